// Thin shim over OpenBLAS: CBLAS plus the thread-count control (pinned to 1 on the per-frame path).
#ifndef THUD_COPENBLAS_SHIM_H
#define THUD_COPENBLAS_SHIM_H
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
