#!/usr/bin/env bash
# Memory over many reconnections: `thud predict --reconnect` on a short MPEG-TS served again and again over HTTP
# (each pass: connect, probe, decode, end, reconnect), its resident memory printed every minute with the number of
# connections so far. usage: tools/feeds/reconnect_soak.sh [MINUTES] (default 10). Needs python3 for the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
thud=${THUD:-.build/release/thud}
work=$(mktemp -d /tmp/thud-soak.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=640x360:rate=30" -t 0.5 -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p -f mpegts "$work/short.ts"
port=$((20000 + RANDOM % 20000))
(cd "$work" && python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
sleep 1
"$thud" predict --model "${MODEL:-models/default.thud}" --reconnect --reconnect-max-delay 0.1 "http://127.0.0.1:$port/short.ts" \
    > "$work/out.jsonl" 2> /dev/null &
pid=$!
echo "minute  connections  VmRSS"
for m in $(seq 0 "$minutes"); do
    [ "$m" -gt 0 ] && sleep 60
    printf '%6d  %11d  %s\n' "$m" "$(( $(grep -c '"gap"' "$work/out.jsonl" || true) + 1 ))" "$(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
done
kill -TERM $pid
