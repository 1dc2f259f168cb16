#!/bin/sh
# Runs inside the vivid VM (tools/vivid/run-in-vm.sh): a scene for tools/eval/learning_curve.sh made with `thud record`
# on a real camera driver and a real microphone (snd-aloop): vivid's picture turns (white, black, a colour bar, …) at
# irregular moments and a click sounds at each turn (tools/vivid/flash-click.c), for SECONDS, as 30 s clips in OUTDIR.
#   record-scene.sh /path/to/thud /path/to/flash-click OUTDIR SECONDS
set -u
thud=$1; click=$2; out=$3; seconds=$4
cap=hw:Loopback,1,0
play=hw:Loopback,0,0
v4l2-ctl -d /dev/video0 -c osd_text_mode=2 2>>"$out/scene-setup.err"
"$click" /dev/video0 "100% Black" 2>>"$out/scene-setup.err"
"$thud" record /dev/video0 --audio-device $cap --out "$out/scene" --clip-seconds 30 --pixel-format yuyv --size 320x240 \
    --fps 30 >"$out/scene.out" 2>"$out/scene.err" &
pid=$!
n=0; while [ $n -lt 600 ] && ! grep -q recording "$out/scene.err" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
start=$(cut -d. -f1 /proc/uptime)
i=0
while [ $(( $(cut -d. -f1 /proc/uptime) - start )) -lt "$seconds" ]; do
    case $((i % 4)) in 0) p="100% White" ;; 1) p="100% Black" ;; 2) p="75% Colorbar" ;; *) p="100% Black" ;; esac
    # 0.6 … 2.1 s apart, from the loop counter (the guest has no $RANDOM in busybox sh)
    "$click" /dev/video0 "$p" $play "$(( (i * 7) % 16 / 10 )).$(( (i * 7) % 16 % 10 ))" >>"$out/scene-click.out" 2>>"$out/scene-click.err"
    i=$((i + 1))
done
kill -INT $pid
wait $pid; echo $? >"$out/scene.rc"
