#!/bin/sh
# Runs inside the vivid VM (tools/vivid/run-in-vm.sh, which also loads snd-aloop): `thud live --learn` on a real
# camera (vivid) with a real microphone (ALSA's loopback card: what is played into hw:Loopback,0,0 is captured from
# hw:Loopback,1,0). The feed records itself into OUTDIR/learn/video0 (--learn-record-only: the emulated guest has one
# slow CPU, so the learner, `thud-train adapt --follow` on that folder, runs on the host, which sees the folder through
# the shared run directory); a flash and a click at one instant come every 1.5 s until the learner's model has
# swapped in (a {"event": "model"} line), then a few more. Tests/ThudCaptureTests/VividLearnTests.swift asserts on
# learn.jsonl, learn.err, learn.rc and learn.ls. Limits only guard hangs.
#
#   learn-checks.sh /path/to/thud /path/to/flash-click OUTDIR MODEL
set -u
thud=$1; click=$2; out=$3; model=$4
cap=hw:Loopback,1,0
play=hw:Loopback,0,0

wait_for() { n=0; while [ $n -lt 1200 ] && ! grep -q "$2" "$1" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done; }

v4l2-ctl -d /dev/video0 -c osd_text_mode=2 2>>"$out/click-setup.err"
"$click" /dev/video0 "100% Black" 2>>"$out/click-setup.err"
"$thud" live /dev/video0 --model "$model" --learn "$out/learn" --learn-record-only --microphone $cap \
    --learn-segment-seconds 4 --jsonl "$out/learn.jsonl" --pixel-format yuyv --size 320x240 --fps 30 \
    >"$out/learn.out" 2>"$out/learn.err" &
pid=$!
wait_for "$out/learn.err" "recording"
echo "recording" >"$out/learn.started"
flash() { if [ $(($1 % 2)) = 0 ]; then p="100% White"; else p="100% Black"; fi
          "$click" /dev/video0 "$p" $play 1.5 >>"$out/click.out" 2>>"$out/click.err" || echo "flash-click failed: $?" >>"$out/click.err"; }
n=0
while [ $n -lt 160 ] && ! grep -q '"event": "model"' "$out/learn.jsonl" 2>/dev/null; do flash $n; n=$((n + 1)); done
for i in 1 2 3 4 5 6; do flash $((n + i)); done
kill -INT $pid
n=0; while kill -0 $pid 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 $pid 2>/dev/null && { echo "learn-checks: still running 120 s after SIGINT" >>"$out/learn.err"; kill -KILL $pid; }
wait $pid; echo $? >"$out/learn.rc"
ls -a "$out/learn/video0" >"$out/learn.ls"

# A microphone that cannot be opened: one line, and the camera's steps go on (36 of them, then --steps ends it).
# (Its hits go to /run: OUTDIR is the host's 9p share, where SQLite's WAL cannot map its shared memory, so --learn's
# default database, DIR/events.db, would be a second warning — as it is, one line, in the first run above.)
"$thud" live /dev/video1 --learn "$out/learn-nomic" --learn-record-only --microphone hw:NoSuchCard --steps 36 --events /run/nomic-events.db \
    --jsonl "$out/nomic.jsonl" >"$out/nomic.out" 2>"$out/nomic.err" &
pid=$!
n=0; while kill -0 $pid 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 $pid 2>/dev/null && { echo "learn-checks: nomic still running after 120 s" >>"$out/nomic.err"; kill -KILL $pid; }
wait $pid; echo $? >"$out/nomic.rc"

# A full disk: --learn into a 64 KB tmpfs (the bundled model's 96x96 segments fill it within a few): the segment that
# does not fit is one line, the camera's steps go on to --steps.
mkdir -p /run/full && mount -t tmpfs -o size=64k tmpfs /run/full
# (Its hits go to a database outside the full tmpfs: --learn's default, DIR/events.db, would take a third of it.)
"$thud" live /dev/video2 --learn /run/full/learn --learn-record-only --microphone $cap --learn-segment-seconds 2 --events /run/full-events.db \
    --steps 180 --jsonl "$out/full.jsonl" >"$out/full.out" 2>"$out/full.err" &
pid=$!
n=0; while kill -0 $pid 2>/dev/null && [ $n -lt 2400 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 $pid 2>/dev/null && { echo "learn-checks: full still running after 240 s" >>"$out/full.err"; kill -KILL $pid; }
wait $pid; echo $? >"$out/full.rc"
ls -a /run/full/learn/video2 >"$out/full.ls" 2>&1
exit 0
