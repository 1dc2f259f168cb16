// Thin shim over V4L2/libv4l2: the VIDIOC_* request codes and V4L2_PIX_FMT_* fourccs are
// macros Swift cannot import, and v4l2_open/v4l2_ioctl are variadic. Nothing else lives here.
#ifndef THUD_CV4L2_SHIM_H
#define THUD_CV4L2_SHIM_H
#include <linux/videodev2.h>
#include <libv4l2.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static inline int thud_v4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
/* Adopt an fd opened (and checked with a plain QUERYCAP) by the caller, so a non-V4L2 file gets our
   one-line error instead of libv4l2's own stderr message. */
static inline int thud_v4l2_fd_open(int fd, int flags) { return v4l2_fd_open(fd, flags); }
static inline int thud_sys_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
/* libv4l2 prints its own "libv4l2: error ..." lines to stderr (or to v4l2_log_file when set); the
   caller reports every failure itself in one line, so that log goes to /dev/null unless
   THUD_V4L2_LOG is set in the environment. */
static inline void thud_v4l2_quiet_log(void) {
    if (v4l2_log_file == NULL && getenv("THUD_V4L2_LOG") == NULL) v4l2_log_file = fopen("/dev/null", "w");
}
static inline int thud_v4l2_close(int fd) { return v4l2_close(fd); }
static inline int thud_v4l2_ioctl(int fd, unsigned long request, void *arg) { return v4l2_ioctl(fd, request, arg); }
static inline void *thud_v4l2_mmap(void *start, size_t length, int prot, int flags, int fd, int64_t offset) {
    return v4l2_mmap(start, length, prot, flags, fd, offset);
}
static inline int thud_v4l2_munmap(void *start, size_t length) { return v4l2_munmap(start, length); }

static inline unsigned long thud_vidioc_querycap(void) { return VIDIOC_QUERYCAP; }
static inline unsigned long thud_vidioc_enum_fmt(void) { return VIDIOC_ENUM_FMT; }
static inline unsigned long thud_vidioc_enum_framesizes(void) { return VIDIOC_ENUM_FRAMESIZES; }
static inline unsigned long thud_vidioc_enum_frameintervals(void) { return VIDIOC_ENUM_FRAMEINTERVALS; }
static inline unsigned long thud_vidioc_g_fmt(void) { return VIDIOC_G_FMT; }
static inline unsigned long thud_vidioc_s_fmt(void) { return VIDIOC_S_FMT; }
static inline unsigned long thud_vidioc_try_fmt(void) { return VIDIOC_TRY_FMT; }
static inline unsigned long thud_vidioc_g_parm(void) { return VIDIOC_G_PARM; }
static inline unsigned long thud_vidioc_s_parm(void) { return VIDIOC_S_PARM; }
static inline unsigned long thud_vidioc_reqbufs(void) { return VIDIOC_REQBUFS; }
static inline unsigned long thud_vidioc_querybuf(void) { return VIDIOC_QUERYBUF; }
static inline unsigned long thud_vidioc_qbuf(void) { return VIDIOC_QBUF; }
static inline unsigned long thud_vidioc_dqbuf(void) { return VIDIOC_DQBUF; }
static inline unsigned long thud_vidioc_streamon(void) { return VIDIOC_STREAMON; }
static inline unsigned long thud_vidioc_streamoff(void) { return VIDIOC_STREAMOFF; }
static inline unsigned long thud_vidioc_queryctrl(void) { return VIDIOC_QUERYCTRL; }
static inline unsigned long thud_vidioc_g_ctrl(void) { return VIDIOC_G_CTRL; }
static inline unsigned long thud_vidioc_s_ctrl(void) { return VIDIOC_S_CTRL; }
static inline unsigned long thud_vidioc_s_input(void) { return VIDIOC_S_INPUT; }

static inline uint32_t thud_pix_fmt_yuyv(void) { return V4L2_PIX_FMT_YUYV; }
static inline uint32_t thud_pix_fmt_uyvy(void) { return V4L2_PIX_FMT_UYVY; }
static inline uint32_t thud_pix_fmt_mjpeg(void) { return V4L2_PIX_FMT_MJPEG; }
static inline uint32_t thud_pix_fmt_jpeg(void) { return V4L2_PIX_FMT_JPEG; }
static inline uint32_t thud_pix_fmt_nv12(void) { return V4L2_PIX_FMT_NV12; }
static inline uint32_t thud_pix_fmt_yuv420(void) { return V4L2_PIX_FMT_YUV420; }
static inline uint32_t thud_pix_fmt_rgb24(void) { return V4L2_PIX_FMT_RGB24; }
static inline uint32_t thud_pix_fmt_bgr24(void) { return V4L2_PIX_FMT_BGR24; }
static inline uint32_t thud_pix_fmt_grey(void) { return V4L2_PIX_FMT_GREY; }

static inline uint32_t thud_buf_type_video_capture(void) { return V4L2_BUF_TYPE_VIDEO_CAPTURE; }
static inline uint32_t thud_memory_mmap(void) { return V4L2_MEMORY_MMAP; }
static inline uint32_t thud_cap_video_capture(void) { return V4L2_CAP_VIDEO_CAPTURE; }
static inline uint32_t thud_cap_streaming(void) { return V4L2_CAP_STREAMING; }
static inline uint32_t thud_cap_device_caps(void) { return V4L2_CAP_DEVICE_CAPS; }
static inline uint32_t thud_field_any(void) { return V4L2_FIELD_ANY; }
static inline uint32_t thud_field_none(void) { return V4L2_FIELD_NONE; }
static inline uint32_t thud_frmsize_type_discrete(void) { return V4L2_FRMSIZE_TYPE_DISCRETE; }
static inline uint32_t thud_frmival_type_discrete(void) { return V4L2_FRMIVAL_TYPE_DISCRETE; }
static inline uint32_t thud_buf_flag_error(void) { return V4L2_BUF_FLAG_ERROR; }
static inline uint32_t thud_buf_flag_timestamp_monotonic(void) { return V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC; }
static inline uint32_t thud_buf_flag_timestamp_mask(void) { return V4L2_BUF_FLAG_TIMESTAMP_MASK; }
static inline uint32_t thud_ctrl_flag_disabled(void) { return V4L2_CTRL_FLAG_DISABLED; }
static inline uint32_t thud_ctrl_flag_next_ctrl(void) { return V4L2_CTRL_FLAG_NEXT_CTRL; }
static inline uint32_t thud_fmt_flag_emulated(void) { return V4L2_FMT_FLAG_EMULATED; }
static inline uint32_t thud_fmt_flag_compressed(void) { return V4L2_FMT_FLAG_COMPRESSED; }
static inline uint32_t thud_frmsize_type_stepwise(void) { return V4L2_FRMSIZE_TYPE_STEPWISE; }
static inline uint32_t thud_frmsize_type_continuous(void) { return V4L2_FRMSIZE_TYPE_CONTINUOUS; }
static inline uint32_t thud_cap_timeperframe(void) { return V4L2_CAP_TIMEPERFRAME; }
static inline uint32_t thud_ctrl_type_button(void) { return V4L2_CTRL_TYPE_BUTTON; }
/* The stop pipe and the device share one poll(); these are plain POSIX, kept here so Swift sees one set. */
static inline short thud_pollin(void) { return POLLIN; }
static inline short thud_pollerr_mask(void) { return POLLERR | POLLHUP | POLLNVAL; }
#endif
