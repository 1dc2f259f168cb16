#!/bin/sh
# Runs inside the vivid VM (tools/vivid/run-in-vm.sh): live-capture checks against the real vivid
# driver, several per boot. Each check NAME leaves NAME.out (stdout: one JSON line per step),
# NAME.err (stderr), NAME.rc and NAME.secs in OUTDIR; Tests/ThudCaptureTests/VividCaptureTests.swift
# asserts on them. Every run is bounded by `timeout`, so a hang shows up as status 124, not a stuck VM. The
# limits guard against hangs only, never against slowness: under qemu's software emulation on a busy host a
# 36-frame capture that takes 2 s on an idle one can take ten times as long, so each limit is minutes.
#
#   capture-checks.sh /path/to/thud-capture-check OUTDIR [CHECK...]    (no CHECK: all of them)
#   (plus OUTDIR/extra-checks.sh, sourced at the end when present: see the bottom of this file)
#
# vivid is loaded with three capture-only instances: /dev/video0 for the format and rate checks,
# /dev/video1 for recoverable and start-up faults, /dev/video2 for the disconnect (which kills it).
set -u
bin=$1; out=$2; shift 2
only=" $* "

now() { cut -d' ' -f1 /proc/uptime; }

run() {   # run NAME TIMEOUT ARGS...      (thud-capture-check ARGS)
    name=$1; limit=$2; shift 2
    run_cmd "$name" "$limit" "$bin" "$@"
}

run_cmd() {   # run_cmd NAME TIMEOUT COMMAND ARGS...   (any command, e.g. `thud live`)
    name=$1; limit=$2; shift 2
    case "$only" in "  ") ;; *" $name "*) ;; *) return 0 ;; esac
    t0=$(now)
    timeout -k 2 "$limit" "$@" >"$out/$name.out" 2>"$out/$name.err"
    echo $? >"$out/$name.rc"
    echo "$t0 $(now)" | awk '{ printf "%.2f\n", $2 - $1 }' >"$out/$name.secs"
    echo "check $name: status $(cat "$out/$name.rc") in $(cat "$out/$name.secs") s" >&2
}

# Two pixel formats and two frame rates (and one camera slower than 12 Hz), 36 steps each.
run yuyv_30   120 /dev/video0 --format yuyv  --fps 30 --frames 36
run nv12_15   120 /dev/video0 --format nv12  --fps 15 --frames 36 --size 640x360 --model-size 96x96
run rgb24_10  120 /dev/video0 --format rgb24 --fps 10 --frames 36
run auto      120 /dev/video0 --frames 12
# A slow consumer (120 ms of "inference" per step): stale steps are skipped, newest wins.
run slow      120 /dev/video0 --format yuyv --fps 30 --frames 24 --work-ms 120
# Recoverable faults: one buffer flagged ERROR, one QBUF refused, a share of frames dropped.
run buf_error 120 /dev/video1 --frames 36 --set-at 6:inject_v4l2_buf_flag_error=1
run qbuf_error 120 /dev/video1 --frames 36 --set-at 6:inject_vidioc_qbuf_error=1
run dropped   120 /dev/video1 --frames 36 --fps 30 --set percentage_of_dropped_buffers=30
# Start-up faults: exit 30 with a one-line message.
run streamon_error 120 /dev/video1 --frames 12 --set percentage_of_dropped_buffers=0 --set inject_vidioc_streamon_error=1
run reqbufs_error  120 /dev/video1 --frames 12 --set inject_vidioc_reqbufs_error=1
run no_device      120 /dev/video9 --frames 12
# Fatal faults while streaming: exit 31 at once, never a hang.
run fatal     120 /dev/video1 --frames 200 --set-at 6:inject_fatal_streaming_error=1
run after_fatal 120 /dev/video1 --frames 6
run stall     120 /dev/video1 --fps 1 --stall-timeout 0.5 --frames 10
run disconnect 120 /dev/video2 --frames 200 --set-at 6:disconnect=1

# A second session on a device that is streaming: exit 30 "busy", and the first one is unharmed. The first streams
# until the second has been refused and only then gets SIGTERM: with a fixed frame count it could end before a slow
# second session (qemu on a busy host) reached the device, which then was free.
case "$only" in "  "|*" busy "*)
    "$bin" /dev/video0 --frames 100000 >"$out/busy_first.out" 2>"$out/busy_first.err" &
    pid=$!
    n=0
    while [ $n -lt 1200 ] && ! grep -q '"step":3,' "$out/busy_first.out" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
    run busy 120 /dev/video0 --frames 12
    kill -TERM $pid
    n=0
    while kill -0 $pid 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    kill -0 $pid 2>/dev/null && { echo "still running 60 s after SIGTERM" >>"$out/busy_first.err"; kill -KILL $pid; }
    wait $pid; echo $? >"$out/busy_first.rc"; echo 0 >"$out/busy_first.secs"
;; esac

# SIGTERM while streaming: a clean stop (STREAMOFF, unmap, close), status 0, summary printed.
case "$only" in "  "|*" sigterm "*)
    t0=$(now)
    "$bin" /dev/video0 --frames 100000 >"$out/sigterm.out" 2>"$out/sigterm.err" &
    pid=$!
    n=0
    while [ $n -lt 1200 ] && ! grep -q '"step":6,' "$out/sigterm.out" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
    kill -TERM $pid
    n=0
    while kill -0 $pid 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    kill -0 $pid 2>/dev/null && { echo "still running 60 s after SIGTERM" >>"$out/sigterm.err"; kill -KILL $pid; }
    wait $pid; echo $? >"$out/sigterm.rc"
    echo "$t0 $(now)" | awk '{ printf "%.2f\n", $2 - $1 }' >"$out/sigterm.secs"
    echo "check sigterm: status $(cat "$out/sigterm.rc")" >&2
    # The device must be free again: a new session streams.
    run after_sigterm 120 /dev/video0 --frames 6
;; esac
# More checks in the same boot: OUTDIR/extra-checks.sh is sourced if present (it can use run and
# run_cmd), e.g. `run_cmd live 60 /path/to/thud live /dev/video0 --frames 36 --jsonl -`.
[ -f "$out/extra-checks.sh" ] && . "$out/extra-checks.sh"
exit 0
