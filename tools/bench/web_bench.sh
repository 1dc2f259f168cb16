#!/usr/bin/env bash
# The page's cost (issue 39's bar): N network feeds (640x360 30 fps H.264 over UDP, sent in real time by
# `ffmpeg -re -c copy`) into one `thud watch` pinned to one core, alternately
#   plain:  thud watch FEEDS…
#   stalled: thud watch FEEDS… --http PORT, with 4 live streams opened (1 kB receive window) and never read
#   page:   thud watch FEEDS… --http PORT --events DB, with the page open in headless Chromium for the whole run
#           (tools/feeds/page_shot.py: its live stream, a picture per feed three times a second, the events list)
# Prints per run: thud's CPU per feed (all its threads: the feeds, the events writer, the web pump and server),
# steps against the 12 Hz expected, drops, frame→line latency, the events stored and the page's picture requests;
# then the ratio of the page runs' CPU per feed to the plain runs' (the bar: at most 1.10); the stalled runs show that
# clients that never read change neither the steps nor the latency.
#
# usage: tools/bench/web_bench.sh [SECONDS] [N] [REPEATS]     (default: 30 s, 16 feeds, 2 of each, alternating)
# Needs a release build (swift build -c release) and chromium (tools/setup.sh). The browser and the senders run on
# the other core (SENDER_CORE), so that thud's core measures thud alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}; n=${2:-16}; repeats=${3:-2}
thud=${THUD:-.build/release/thud}
model=${MODEL:-models/default.thud}
core=${CORE:-1}; sender_core=${SENDER_CORE:-0}
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { echo "web_bench.sh: chromium not found (tools/setup.sh installs it)" >&2; exit 1; }
work=$(mktemp -d /tmp/thud-web-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. tools/bench/bench_lib.sh

ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=640x360:rate=30" -t $((seconds + 8)) \
    -vf "eq=brightness='if(lt(mod(t,1),0.15),0.5,0)':eval=frame" \
    -c:v libx264 -preset veryfast -g 30 -b:v 1M -pix_fmt yuv420p -f mpegts "$work/clip.ts"
echo "$n feeds: 640x360 30 fps H.264 1 Mb/s over UDP (a flash a second), ${seconds} s a run; thud on core $core, senders and chromium on core $sender_core; model $model"
printf '%-7s | %24s %12s %6s %22s %8s %12s\n' run "thud CPU/feed (core %)" steps drops "frame→line med/p99 ms" events "pictures/clients"
window=$((seconds - 6))
base=31000
declare -A sum count
for r in $(seq 1 "$repeats"); do
  for mode in ${MODES:-plain stalled page}; do
    ports=(); feeds=()
    for i in $(seq 1 "$n"); do ports+=($((base + 2 * i))); feeds+=("cam$i=udp://127.0.0.1:$((base + 2 * i))"); done
    base=$((base + 200))
    extra=()
    http=$((base + 150))
    if [[ $mode == page ]]; then extra=(--http "$http" --events "$work/events-$r.db"); fi
    if [[ $mode == stalled ]]; then extra=(--http "$http" --http-client-queue 4); fi
    taskset -c "$core" "$thud" watch --model "$model" --timeout 5 --reconnect --reconnect-max-delay 1 "${extra[@]}" "${feeds[@]}" \
        > "$work/out.jsonl" 2> "$work/err.txt" &
    tpid=$!
    sleep 1
    senders=()
    for p in "${ports[@]}"; do
        taskset -c "$sender_core" ffmpeg -hide_banner -loglevel error -re -i "$work/clip.ts" -t "$seconds" -c copy \
            -f mpegts "udp://127.0.0.1:$p?pkt_size=1316" &
        senders+=($!)
    done
    bpid=
    if [[ $mode == page ]]; then
        # The page open for the whole run: its live stream, a picture per feed three times a second, the events list.
        taskset -c "$sender_core" tools/feeds/page_shot.py "http://127.0.0.1:$http/" "$work/page.png" --wait $((seconds - 2)) \
            --size 1600x1200 >/dev/null 2>&1 &
        bpid=$!
    fi
    if [[ $mode == stalled ]]; then
        taskset -c "$sender_core" python3 -c '
import socket, sys, time
socks = []
for _ in range(4):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.connect(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n"); socks.append(s)
time.sleep(float(sys.argv[2]))' "$http" "$seconds" &
        bpid=$!
    fi
    sleep 3
    c0=$(cpu $tpid); t0=$(date +%s.%N)
    sleep "$window"
    c1=$(cpu $tpid); t1=$(date +%s.%N)
    pictures=-
    if [[ $mode == stalled ]]; then
        pictures="$(curl -s "http://127.0.0.1:$http/metrics" | awk '/^thud_web_clients_dropped_total/ {print $2}') dropped"
    fi
    if [[ $mode == page ]]; then
        pictures=$(curl -s "http://127.0.0.1:$http/api/feeds" | grep -o '"picture": true' | wc -l)/$n
    fi
    wait "${senders[@]}" || true
    [[ -n $bpid ]] && { kill $bpid 2>/dev/null || true; wait $bpid 2>/dev/null || true; }
    sleep 1
    kill -TERM $tpid; wait $tpid || true
    pct=$(calc "($c1 - $c0) / ($t1 - $t0) / $n * 100")
    steps=$(grep -c '"envelope"' "$work/out.jsonl" || true)
    expected=$((n * seconds * 12))
    drops=$(grep -oE '[0-9]+ dropped' "$work/err.txt" | grep -v 'hits stored' | awk '{s += $1} END {print s + 0}')
    lat=$(grep -oE 'frame→line latency median [0-9.]+ ms, p99 [0-9.]+' "$work/err.txt" | awk '{m += $4; if ($7 > p) p = $7} END {printf "%.0f/%.0f", m / NR, p}')
    events=-
    [[ $mode == page ]] && events=$(grep -oE 'events: .*: [0-9]+ hits? stored' "$work/err.txt" | grep -oE '[0-9]+ hits? stored' | awk '{print $1}')
    printf '%-7s | %24.2f %5d/%-6d %6d %22s %8s %12s\n' "$mode" "$pct" "$steps" "$expected" "$drops" "$lat" "$events" "$pictures"
    sum[$mode]=$(calc "${sum[$mode]:-0} + $pct"); count[$mode]=$(( ${count[$mode]:-0} + 1 ))
  done
done
plain=$(calc "${sum[plain]} / ${count[plain]}"); page=$(calc "${sum[page]} / ${count[page]}")
printf 'CPU per feed, mean of %d runs each: plain %.2f %%, page open + events database %.2f %%: ratio %.3f (bar: at most 1.10)\n' \
    "$repeats" "$plain" "$page" "$(calc "$page / $plain")"
if [[ -n ${count[stalled]:-} ]]; then
    printf 'with 4 live streams that never read: %.2f %% CPU per feed, ratio %.3f to plain\n' \
        "$(calc "${sum[stalled]} / ${count[stalled]}")" "$(calc "${sum[stalled]} / ${count[stalled]} / $plain")"
fi
