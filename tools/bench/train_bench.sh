#!/usr/bin/env bash
# Training benchmark: seconds per epoch (SEQUENCES sequences of STEPS steps, batch BATCH, default architecture) for
# ModelTrainer (release, two threads, OpenBLAS single-threaded inside each) and the PyTorch reference of the same
# model on the CPU (torch.set_num_threads(2)), same data, same loop (forward, BCE, backward, clip, Adam). The two
# alternate for ROUNDS rounds so that both see the same load on this shared machine; the summary takes each side's
# best epoch (wall and CPU seconds) and prints the ratio. Also prints the Swift side's heap allocations per
# computeGradients after warm-up (LD_PRELOAD counter).
# Usage: tools/bench/train_bench.sh [SEQUENCES] [STEPS] [BATCH] [EPOCHS] [ROUNDS]   (defaults 200 48 16 2 2)
# THREADS=1 compares one thread on each side (CPU seconds are then a clean per-core figure even on a busy machine:
# neither side spin-waits for a second thread).
set -euo pipefail
cd "$(dirname "$0")/../.."
SEQUENCES=${1:-200}
STEPS=${2:-48}
BATCH=${3:-16}
EPOCHS=${4:-2}
ROUNDS=${5:-2}
THREADS=${THREADS:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

swift build -c release --product thud-bench-train >/dev/null
BIN=$(swift build -c release --show-bin-path)/thud-bench-train
cc -O2 -shared -fPIC -o "$TMP/libthud_malloc_counter.so" tools/bench/model_malloc_counter.c

echo "== $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: figures are noisy) =="
SWIFT_WALL=1e9 SWIFT_CPU=1e9 TORCH_WALL=1e9 TORCH_CPU=1e9
min() { python3 -c "print(min($1, $2))"; }
for round in $(seq "$ROUNDS"); do
    echo "-- round $round: Swift ModelTrainer"
    OUT=$(OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$TMP/libthud_malloc_counter.so" \
        "$BIN" --sequences "$SEQUENCES" --steps "$STEPS" --batch "$BATCH" --epochs "$EPOCHS" --threads "$THREADS" --out "$TMP")
    echo "$OUT" | grep -v '^SWIFT_SECONDS_PER_EPOCH'
    read -r W C < <(echo "$OUT" | awk '/^SWIFT_SECONDS_PER_EPOCH/ {print $2, $3}')
    SWIFT_WALL=$(min "$SWIFT_WALL" "$W"); SWIFT_CPU=$(min "$SWIFT_CPU" "$C")
    echo "-- round $round: PyTorch reference, same model and data"
    OUT=$(python3 tools/bench/train_bench_torch.py "$TMP" "$SEQUENCES" "$STEPS" "$BATCH" "$EPOCHS" "$THREADS")
    echo "$OUT" | grep -v '^TORCH_SECONDS_PER_EPOCH'
    read -r W C < <(echo "$OUT" | awk '/^TORCH_SECONDS_PER_EPOCH/ {print $2, $3}')
    TORCH_WALL=$(min "$TORCH_WALL" "$W"); TORCH_CPU=$(min "$TORCH_CPU" "$C")
done
python3 - "$SWIFT_WALL" "$SWIFT_CPU" "$TORCH_WALL" "$TORCH_CPU" <<'PY'
import sys
sw, sc, tw, tc = map(float, sys.argv[1:])
print(f"== seconds per epoch (best): swift {sw:.3f} wall, {sc:.3f} CPU | pytorch {tw:.3f} wall, {tc:.3f} CPU "
      f"| pytorch/swift = {tw / sw:.2f}x wall, {tc / sc:.2f}x CPU ==")
PY
