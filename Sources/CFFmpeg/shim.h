// Thin shim over FFmpeg: what Swift cannot import directly (function-like macros such as
// AVERROR(), AV_NOPTS_VALUE's cast, av_err2str's compound literal), and glibc's mallopt for the writer.
#ifndef THUD_CFFMPEG_SHIM_H
#define THUD_CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>   /* extract_extradata: the parameter sets PacketRecorder puts in a segment header */
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/display.h>
#include <math.h>
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
static inline int thud_averror_exit(void) { return AVERROR_EXIT; }
static inline int thud_averror_protocol_not_found(void) { return AVERROR_PROTOCOL_NOT_FOUND; }
static inline int thud_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int thud_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
static inline int64_t thud_nopts_value(void) { return (int64_t)AV_NOPTS_VALUE; }
static inline int thud_time_base_q(void) { return AV_TIME_BASE; }

/// Writes FFmpeg's text for an error code into buf (av_err2str is a macro with a compound literal).
static inline const char *thud_err2str(int errnum, char *buf, size_t size) {
    av_strerror(errnum, buf, size);
    return buf;
}

/// The rotation of a video stream's display matrix in degrees counterclockwise (av_display_rotation_get), 0 when it
/// has none. The side data moved from the stream to its codec parameters in FFmpeg 6.1 (libavformat 60.15).
static inline double thud_stream_rotation(const AVStream *st) {
    const int32_t *matrix = NULL;
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    const AVPacketSideData *sd = av_packet_side_data_get(st->codecpar->coded_side_data, st->codecpar->nb_coded_side_data,
                                                         AV_PKT_DATA_DISPLAYMATRIX);
    if (sd && sd->size >= 9 * sizeof(int32_t)) matrix = (const int32_t *)sd->data;
#else
    size_t size = 0;
    const uint8_t *data = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (data && size >= 9 * sizeof(int32_t)) matrix = (const int32_t *)data;
#endif
    if (!matrix) return 0;
    double r = av_display_rotation_get(matrix);
    return isnan(r) ? 0 : r;
}
#endif
