#!/usr/bin/env bash
# Issue 38's soak: `thud predict --learn DIR --learn-budget MB` on a live UDP feed with sound (testsrc2 and a beep a
# second, sent in real time by ffmpeg, looped) for MINUTES; every minute: the steps out so far (and any skipped), the
# feed folder's finished segments and their bytes against the budget, thud's and the learner's resident memory, the
# learner's rounds. At the end both processes are killed with -9 at once, and what is left is checked: every finished
# segment decodes, model.thud (if written) loads, no temporary is taken for a segment, and a restarted
# `thud predict --learn` starts from the learned model and removes the dead run's temporaries.
#   tools/feeds/learn_soak.sh [MINUTES] [BUDGET_MB]   (default 30 and 4); THUD_BIN=.build/release
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-30}; budget=${2:-4}
bin=${THUD_BIN:-.build/release}
work=$(mktemp -d /tmp/thud-learn-soak.XXXXXX)
echo "work folder $work"
port=$((20000 + RANDOM % 20000))
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=320x180:rate=30" -f lavfi -i "sine=frequency=800:beep_factor=6:sample_rate=48000" \
    -t 60 -c:v libx264 -preset ultrafast -g 30 -pix_fmt yuv420p -c:a aac -f mpegts "$work/minute.ts"
ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$work/minute.ts" -c copy -f mpegts "udp://127.0.0.1:$port?pkt_size=1316" &
sender=$!
trap 'kill $sender 2>/dev/null || true' EXIT
"$bin/thud" predict --model models/default.thud --timeout 10 --reconnect --learn "$work/learn" --learn-budget "$budget" \
    --learn-segment-seconds 10 --learn-every 30 "udp://127.0.0.1:$port" > "$work/out.jsonl" 2> "$work/err.txt" &
pid=$!
feed="$work/learn/127.0.0.1_$port"
learner_pid() { pgrep -P "$pid" -f "thud-train adapt" | head -1 || true; }
echo "minute  steps  skipped  segments  bytes(budget $((budget * 1000000)))  thud_VmRSS  learner_VmRSS  rounds  written"
for m in $(seq 0 "$minutes"); do
    [ "$m" -gt 0 ] && sleep 60
    steps=$(grep -c '"envelope"' "$work/out.jsonl" || true)
    skipped=$(python3 -c "
import json,sys
ks=[round(json.loads(l)['t']*12) for l in open('$work/out.jsonl') if '\"envelope\"' in l]
print((max(ks)+1-len(set(ks))) if ks else 0)")
    segs=$(ls "$feed" 2>/dev/null | grep -c '^rec-.*\.mkv$' || true)
    bytes=$(cat "$feed"/rec-*.mkv 2>/dev/null | wc -c || true)
    lp=$(learner_pid)
    rounds=$( { wc -l < "$feed/learning.jsonl"; } 2>/dev/null || echo 0)
    written=$(grep -c '"written": *true' "$feed/learning.jsonl" 2>/dev/null || echo 0)
    printf '%6d  %5d  %7d  %8d  %12d  %10s  %13s  %6s  %7s\n' "$m" "$steps" "$skipped" "$segs" "$bytes" \
        "$(awk '/VmRSS/ {print $2}' /proc/$pid/status) kB" "$( [ -n "$lp" ] && awk '/VmRSS/ {print $2}' /proc/$lp/status || echo -) kB" "$rounds" "$written"
done
lp=$(learner_pid)
kill -9 "$pid" ${lp:+"$lp"}
sleep 1
echo "killed thud ($pid) and the learner (${lp:-none}) with -9; left in $feed:"
ls -a "$feed"
bad=0
for f in "$feed"/rec-*.mkv; do
    [ -e "$f" ] || continue
    "$bin/thud" probe "$f" > /dev/null 2>&1 || { echo "  $f does not decode"; bad=$((bad + 1)); }
done
echo "finished segments that do not decode: $bad"
if [ -f "$feed/model.thud" ]; then
    "$bin/thud" predict "$feed/model.thud" > /dev/null 2>&1 || true
    "$bin/thud" predict --model "$feed/model.thud" models/sample.mp4 > /dev/null && echo "model.thud loads and predicts" || echo "model.thud DOES NOT LOAD"
fi
# A restart: starts from the learned model, clears the dead run's temporaries.
timeout -s INT 20 "$bin/thud" predict --timeout 10 --learn "$work/learn" --learn-budget "$budget" --learn-record-only \
    "udp://127.0.0.1:$port" > /dev/null 2> "$work/restart.txt" || true
grep -E "starting from|warning" "$work/restart.txt" || true
echo "temporaries left after the restart: $(ls -a "$feed" | grep -c '\.partial$' || true) (the restart's own open segment is finished at its stop)"
