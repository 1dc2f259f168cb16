// Thin shim over ALSA: snd_pcm_hw_params_alloca/snd_pcm_sw_params_alloca are macros
// (stack allocation); these wrappers use the malloc'ing variants so Swift can own them.
#ifndef THUD_CALSA_SHIM_H
#define THUD_CALSA_SHIM_H
#include <alsa/asoundlib.h>
#include <errno.h>

static inline snd_pcm_hw_params_t *thud_hw_params_new(void) {
    snd_pcm_hw_params_t *p = NULL;
    return snd_pcm_hw_params_malloc(&p) == 0 ? p : NULL;
}
static inline snd_pcm_sw_params_t *thud_sw_params_new(void) {
    snd_pcm_sw_params_t *p = NULL;
    return snd_pcm_sw_params_malloc(&p) == 0 ? p : NULL;
}
static inline int thud_epipe(void) { return EPIPE; }
static inline int thud_estrpipe(void) { return ESTRPIPE; }
static inline int thud_eagain(void) { return EAGAIN; }
#endif
