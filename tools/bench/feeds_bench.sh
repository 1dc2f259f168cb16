#!/usr/bin/env bash
# Feeds per core. N network feeds of 640x360 30 fps H.264 (MPEG-TS over UDP on 127.0.0.1, each sent in real time by
# `ffmpeg -re -c copy` from a clip made here: the senders do no encoding), received by one `thud watch` pinned to one
# core, then by N `ffmpeg -i udp://… -vf fps=12,scale=96:96 -f null -` (decode + the 12 Hz model-sized frames thud
# makes, no model) pinned to the same core. Prints per N: CPU per feed for both, thud's steps against the 12 Hz
# expected, its drops, and its latency from a frame's arrival to its line (frame→line: the 12 Hz clock's wait for a
# later frame and the model's output delay included) and from the frame that made the line due (due→line: decode,
# model, output).
#
# usage: tools/bench/feeds_bench.sh [SECONDS] [N…]      (default: 20 s; N = 1 4 8 12 16)
# Needs a release build (swift build -c release). The machine may be shared: compare thud with ffmpeg in one run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}; shift || true
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1 4 8 12 16)
thud=${THUD:-.build/release/thud}
model=${MODEL:-models/default.thud}
core=${CORE:-1}; sender_core=${SENDER_CORE:-0}
work=$(mktemp -d /tmp/thud-feeds-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. tools/bench/bench_lib.sh

ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=640x360:rate=30" -t $((seconds + 5)) \
    -c:v libx264 -preset veryfast -g 30 -b:v 1M -pix_fmt yuv420p -f mpegts "$work/clip.ts"
echo "feeds: 640x360 30 fps H.264 1 Mb/s MPEG-TS over UDP, ${seconds} s each; receivers on core $core, senders on core $sender_core; model $model"
printf '%5s | %22s %10s %8s %22s %16s | %22s\n' N "thud CPU/feed (core %)" steps drops "frame→line med/p99 ms" "due→line p99 ms" "ffmpeg CPU/feed (core %)"

senders=()
send_all() {   # ports…: one real-time sender per port, on the sender core
    senders=()
    for p in "$@"; do
        taskset -c "$sender_core" ffmpeg -hide_banner -loglevel error -re -i "$work/clip.ts" -t "$seconds" -c copy \
            -f mpegts "udp://127.0.0.1:$p?pkt_size=1316" &
        senders+=($!)
    done
}
# CPU is measured over the middle of the run (senders all up, none finished yet): from 2 s in to 2 s before the end.
window=$((seconds - 4))

base=30000
for n in "${counts[@]}"; do
    ports=(); feeds=()
    for i in $(seq 1 "$n"); do ports+=($((base + 2 * i))); feeds+=("cam$i=udp://127.0.0.1:$((base + 2 * i))"); done
    base=$((base + 200))
    # thud: one process, every feed.
    # --reconnect: a sender slow to start on a loaded machine is waited for, not an error.
    taskset -c "$core" "$thud" watch --model "$model" --timeout 5 --reconnect --reconnect-max-delay 1 "${feeds[@]}" \
        > "$work/out.jsonl" 2> "$work/err.txt" &
    tpid=$!
    sleep 1
    send_all "${ports[@]}"
    sleep 2
    c0=$(cpu $tpid); t0=$(date +%s.%N)
    sleep "$window"
    c1=$(cpu $tpid); t1=$(date +%s.%N)
    wait "${senders[@]}" || true
    sleep 1
    kill -TERM $tpid; wait $tpid || true
    thud_pct=$(calc "($c1 - $c0) / ($t1 - $t0) / $n * 100")
    steps=$(grep -c '"envelope"' "$work/out.jsonl" || true)
    expected=$((n * seconds * 12))
    drops=$(grep -oE '[0-9]+ dropped' "$work/err.txt" | awk '{s += $1} END {print s + 0}')
    lat=$(grep -oE 'frame→line latency median [0-9.]+ ms, p99 [0-9.]+' "$work/err.txt" | awk '{m += $4; if ($7 > p) p = $7} END {printf "%.0f/%.0f", m / NR, p}')
    due=$(grep -oE 'due→line median [0-9.]+ ms, p99 [0-9.]+' "$work/err.txt" | awk '{if ($6 > p) p = $6} END {printf "%.1f", p}')

    # ffmpeg: one process per stream, the same decode and 12 Hz scaling, on the same core.
    pids=()
    for p in "${ports[@]}"; do
        taskset -c "$core" ffmpeg -hide_banner -loglevel error -timeout 5000000 -i "udp://127.0.0.1:$p" \
            -vf fps=12,scale=96:96 -pix_fmt gray -f null - &
        pids+=($!)
    done
    sleep 1
    send_all "${ports[@]}"
    sleep 2
    f0=0; for p in "${pids[@]}"; do f0=$(calc "$f0 + $(cpu "$p")"); done; t0=$(date +%s.%N)
    sleep "$window"
    f1=0; for p in "${pids[@]}"; do f1=$(calc "$f1 + $(cpu "$p")"); done; t1=$(date +%s.%N)
    wait "${senders[@]}" || true
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait || true
    ff_pct=$(calc "($f1 - $f0) / ($t1 - $t0) / $n * 100")
    printf '%5d | %22.1f %4d/%-5d %8d %22s %16s | %22.1f\n' "$n" "$thud_pct" "$steps" "$expected" "$drops" "$lat" "$due" "$ff_pct"
done
