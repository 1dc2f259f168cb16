// Thin shim over libmosquitto (Debian's libmosquitto-dev): the header, nothing else.
#ifndef THUD_CMOSQUITTO_SHIM_H
#define THUD_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
