// Thin shim over ALSA: snd_pcm_hw_params_alloca/snd_pcm_sw_params_alloca are macros
// (stack allocation); these wrappers use the malloc'ing variants so Swift can own them.
#ifndef THUD_CALSA_SHIM_H
#define THUD_CALSA_SHIM_H
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
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
static inline int thud_enodev(void) { return ENODEV; }

// ALSA's error handler is variadic, which Swift cannot implement. While probing a device
// we want our own one-line error instead of alsa-lib's multi-line stderr noise, so the
// silent handler lives here and Swift only switches it on and off.
static inline void thud_alsa_silent_handler(const char *file, int line, const char *function,
                                            int err, const char *fmt, ...) {
    (void)file; (void)line; (void)function; (void)err; (void)fmt;
}
static inline void thud_alsa_errors_silence(int silent) {
    snd_lib_error_set_handler(silent ? thud_alsa_silent_handler : NULL);
}

// Names the calling thread (15 characters max) for top -H and debuggers. prctl is variadic
// and pthread_setname_np needs _GNU_SOURCE, so neither imports into Swift directly.
#include <sys/prctl.h>
static inline void thud_name_this_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

// SND_PCM_IOPLUG_VERSION is a shifted-OR macro that Swift does not import.
static inline unsigned int thud_ioplug_version(void) { return SND_PCM_IOPLUG_VERSION; }
#endif
