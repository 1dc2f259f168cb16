// Thin shim over FFmpeg: what Swift cannot import directly (function-like macros such as
// AVERROR(), AV_NOPTS_VALUE's cast, av_err2str's compound literal), and glibc's mallopt for the writer.
#ifndef THUD_CFFMPEG_SHIM_H
#define THUD_CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <malloc.h>

/// glibc's M_PERTURB: fill fresh and freed heap memory with a fixed byte (see MediaWriter.knownFreshMemory:
/// libx264 reads memory it has not written, and its output must not depend on what was there).
static inline int thud_perturb_heap(int byte) { return mallopt(M_PERTURB, byte); }

static inline int thud_averror(int posix_errno) { return AVERROR(posix_errno); }
static inline int thud_averror_eof(void) { return AVERROR_EOF; }
static inline int thud_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int thud_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int thud_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int thud_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
static inline int64_t thud_nopts_value(void) { return (int64_t)AV_NOPTS_VALUE; }
static inline int thud_time_base_q(void) { return AV_TIME_BASE; }

/// Writes FFmpeg's text for an error code into buf (av_err2str is a macro with a compound literal).
static inline const char *thud_err2str(int errnum, char *buf, size_t size) {
    av_strerror(errnum, buf, size);
    return buf;
}
#endif
