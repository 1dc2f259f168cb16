#!/bin/sh
# Runs inside the vivid VM (tools/vivid/run-in-vm.sh, which also loads snd-aloop: ALSA's loopback card, a real
# capture device): `thud record` checks. Each check NAME leaves NAME.out, NAME.err, NAME.rc in OUTDIR and its clips
# in OUTDIR/NAME/; Tests/ThudCaptureTests/VividRecordTests.swift asserts on them. Limits only guard hangs.
#
#   record-checks.sh /path/to/thud /path/to/flash-click OUTDIR
set -u
thud=$1; click=$2; out=$3
cap=hw:Loopback,1,0      # the recorder's microphone ...
play=hw:Loopback,0,0     # ... hears what is played here

# Waits (up to 120 s) until FILE contains TEXT.
wait_for() { n=0; while [ $n -lt 1200 ] && ! grep -q "$2" "$1" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done; }
# Waits for PID, killing it after 240 s (a hang), and records its status as NAME.rc.
finish() { n=0; while kill -0 "$1" 2>/dev/null && [ $n -lt 2400 ]; do sleep 0.1; n=$((n + 1)); done
           kill -0 "$1" 2>/dev/null && { echo "record-checks: still running after 240 s" >>"$out/$2.err"; kill -KILL "$1"; }
           wait "$1"; echo $? >"$out/$2.rc"; echo "check $2: status $(cat "$out/$2.rc")" >&2; }

# Alignment: three times, the picture turns (black → white → black → white) and a click sounds at the same instant,
# 3 s apart, in one 14 s clip. (Three: on a loaded host the emulated guest can stall for seconds, and an event in a
# stall has no frames around it to check against.)
v4l2-ctl -d /dev/video0 -c osd_text_mode=2 2>>"$out/click-setup.err"   # no text over the picture
"$click" /dev/video0 "100% Black" 2>>"$out/click-setup.err"
"$thud" record /dev/video0 --audio-device $cap --out "$out/align" --clip-seconds 14 --clips 1 \
    --pixel-format yuyv --size 320x240 --fps 30 >"$out/align.out" 2>"$out/align.err" &
pid=$!
wait_for "$out/align.err" "recording"
: >"$out/click.out"
for pattern in "100% White" "100% Black" "100% White"; do
    "$click" /dev/video0 "$pattern" $play 2.5 >>"$out/click.out" 2>>"$out/click.err" || echo "flash-click failed: $?" >>"$out/click.err"
done
finish $pid align

# Ctrl-C finishes the open clip: playable, in place, no temporary left.
"$thud" record /dev/video0 --audio-device $cap --out "$out/sigint" --clip-seconds 60 >"$out/sigint.out" 2>"$out/sigint.err" &
pid=$!
wait_for "$out/sigint.err" "recording"
sleep 4
kill -INT $pid
finish $pid sigint
ls -a "$out/sigint" >"$out/sigint.ls"

# The camera vanishes after the first clip: exit 31, one line, the finished clips stay.
"$thud" record /dev/video2 --audio-device $cap --out "$out/lost" --clip-seconds 2 >"$out/lost.out" 2>"$out/lost.err" &
pid=$!
wait_for "$out/lost.out" "mkv"
v4l2-ctl -d /dev/video2 -c disconnect=1 2>>"$out/lost.err"
finish $pid lost
ls -a "$out/lost" >"$out/lost.ls"

# The recorder frozen for 1.5 s (SIGSTOP): ALSA overruns (its buffer holds 250 ms); the overrun is recovered and
# counted, the lost audio becomes silence and what follows keeps its time, the clip keeps its length.
"$thud" record /dev/video0 --audio-device $cap --out "$out/overrun" --clip-seconds 10 --clips 1 >"$out/overrun.out" 2>"$out/overrun.err" &
pid=$!
wait_for "$out/overrun.err" "recording"
sleep 3
kill -STOP $pid; sleep 1.5; kill -CONT $pid
finish $pid overrun

# A full disk: a 64 KB tmpfs takes a few 1 s clips (colour bars under a running counter), then a write fails:
# exit 74, one line, finished clips intact.
v4l2-ctl -d /dev/video0 -c osd_text_mode=0 2>>"$out/click-setup.err"
"$click" /dev/video0 "75% Colorbar" 2>>"$out/click-setup.err"
mkdir -p /run/full && mount -t tmpfs -o size=64k tmpfs /run/full
"$thud" record /dev/video0 --audio-device $cap --out /run/full/clips --clip-seconds 1 --clips 40 >"$out/full.out" 2>"$out/full.err" &
finish $! full
ls -a /run/full/clips >"$out/full.ls"
mkdir -p "$out/full"
for f in $(cat "$out/full.out"); do cp "$f" "$out/full/"; done

# A microphone that is not there: exit 41, one line, nothing written.
"$thud" record /dev/video0 --audio-device hw:NoSuchCard --out "$out/nomic" --clips 1 >"$out/nomic.out" 2>"$out/nomic.err" &
finish $! nomic
ls -a "$out/nomic" >"$out/nomic.ls" 2>/dev/null
exit 0
