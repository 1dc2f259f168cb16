// Runs inside the vivid VM for `thud record`'s alignment check (tools/vivid/record-checks.sh): a visual event and a
// click at one instant. It switches vivid's test pattern (a control, set from a second file descriptor while the
// recorder streams) and, at once, starts playing a click into ALSA's loopback card, whose other end the recorder
// captures. Prints the CLOCK_MONOTONIC second of the event.
//
//   flash-click VIDEO PATTERN                  set the test pattern ("100% Black", "100% White", …) and exit
//   flash-click VIDEO PATTERN PCM DELAY_S      open PCM, wait DELAY_S, then switch the pattern and play the click
#include <alsa/asoundlib.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static int find_pattern(int fd, const char *wanted, unsigned *id, int *index) {
    struct v4l2_queryctrl q;
    memset(&q, 0, sizeof q);
    q.id = V4L2_CTRL_FLAG_NEXT_CTRL;
    while (ioctl(fd, VIDIOC_QUERYCTRL, &q) == 0) {
        if (strcmp((const char *)q.name, "Test Pattern") == 0 && q.type == V4L2_CTRL_TYPE_MENU) {
            for (int i = q.minimum; i <= q.maximum; i++) {
                struct v4l2_querymenu m;
                memset(&m, 0, sizeof m);
                m.id = q.id;
                m.index = i;
                if (ioctl(fd, VIDIOC_QUERYMENU, &m) == 0 && strcmp((const char *)m.name, wanted) == 0) {
                    *id = q.id;
                    *index = i;
                    return 0;
                }
            }
            return -1;
        }
        q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: flash-click VIDEO PATTERN [PCM DELAY_S]\n");
        return 64;
    }
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) { perror(argv[1]); return 30; }
    unsigned id; int index;
    if (find_pattern(fd, argv[2], &id, &index) != 0) { fprintf(stderr, "%s: no test pattern '%s'\n", argv[1], argv[2]); return 30; }
    struct v4l2_control c = { .id = id, .value = index };
    if (argc == 3) {
        if (ioctl(fd, VIDIOC_S_CTRL, &c) != 0) { perror("VIDIOC_S_CTRL"); return 30; }
        return 0;
    }
    snd_pcm_t *pcm;
    int err = snd_pcm_open(&pcm, argv[3], SND_PCM_STREAM_PLAYBACK, 0);
    if (err < 0) { fprintf(stderr, "%s: %s\n", argv[3], snd_strerror(err)); return 40; }
    // The recorder's format (S16, mono, 48 kHz): the loopback card makes both ends agree. 20 ms of latency.
    err = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 1, 48000, 0, 20000);
    if (err < 0) { fprintf(stderr, "%s: %s\n", argv[3], snd_strerror(err)); return 40; }
    snd_pcm_sw_params_t *sw;
    snd_pcm_sw_params_alloca(&sw);
    snd_pcm_sw_params_current(pcm, sw);
    snd_pcm_sw_params_set_start_threshold(pcm, sw, 1);   // start with the click's first frame
    snd_pcm_sw_params(pcm, sw);
    // A 5 ms full-scale burst, then silence (300 ms in all).
    enum { n = 48000 * 3 / 10 };
    static short click[n];
    for (int i = 0; i < 240; i++) click[i] = (i % 2) ? -30000 : 30000;
    usleep((useconds_t)(atof(argv[4]) * 1e6));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ioctl(fd, VIDIOC_S_CTRL, &c) != 0) { perror("VIDIOC_S_CTRL"); return 30; }
    snd_pcm_sframes_t w = snd_pcm_writei(pcm, click, n);
    if (w < 0) { fprintf(stderr, "%s: %s\n", argv[3], snd_strerror((int)w)); return 40; }
    snd_pcm_drain(pcm);
    snd_pcm_close(pcm);
    printf("%.6f\n", ts.tv_sec + ts.tv_nsec * 1e-9);
    return 0;
}
