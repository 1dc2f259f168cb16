#!/usr/bin/env bash
# A screenshot of the live page (`thud watch … --http`) for README: two real UDP feeds — models/sample.mp4 looped and
# a picture that flashes once a second — into one `thud watch --http --events`, the page opened in headless Chromium
# once both feeds have hits on record, for 6 s (tools/feeds/page_shot.py).
#
#   tools/feeds/page_screenshot.sh [OUT.png] [WIDTHxHEIGHT]      (default: tools/feeds/web-page.png, 1280x860)
# Needs a build (THUD=…, default .build/release/thud), ffmpeg and chromium (tools/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-tools/feeds/web-page.png}; size=${2:-1280x860}
thud=${THUD:-.build/release/thud}
work=$(mktemp -d /tmp/thud-page.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000)); pa=$((port + 2)); pb=$((port + 4))
"$thud" watch --timeout 20 --http "$port" --events "$work/events.db" \
    "sample=udp://127.0.0.1:$pa" "door=udp://127.0.0.1:$pb" > /dev/null 2> "$work/err.txt" &
ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i models/sample.mp4 -t 120 -c copy -f mpegts "udp://127.0.0.1:$pa?pkt_size=1316" &
ffmpeg -hide_banner -loglevel error -re -f lavfi -i "testsrc2=size=320x180:rate=30" -t 120 \
    -vf "eq=brightness='if(lt(mod(t,1),0.15),0.6,0)':eval=frame" -c:v libx264 -preset ultrafast -tune zerolatency -g 15 \
    -f mpegts "udp://127.0.0.1:$pb?pkt_size=1316" &
sleep 20
mkdir -p "$(dirname "$out")"
tools/feeds/page_shot.py "http://127.0.0.1:$port/" "$out" --wait 6 --size "$size" >/dev/null || true
[[ -s $out ]] || { echo "page_screenshot.sh: no screenshot; thud said:" >&2; cat "$work/err.txt" >&2; exit 1; }
echo "$out"
