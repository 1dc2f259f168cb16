#!/usr/bin/env bash
# Training benchmark: seconds per epoch (SEQUENCES sequences of STEPS steps, batch BATCH, default architecture) for
# ModelTrainer (release, two threads, OpenBLAS single-threaded inside each) and the PyTorch reference of the same
# model on the CPU (torch.set_num_threads(2)), same data, same run; prints both side by side and the ratio, and the
# Swift side's heap allocations per computeGradients after warm-up (LD_PRELOAD counter).
# Usage: tools/bench/train_bench.sh [SEQUENCES] [STEPS] [BATCH] [EPOCHS]      (defaults 200 48 16 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
SEQUENCES=${1:-200}
STEPS=${2:-48}
BATCH=${3:-16}
EPOCHS=${4:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

swift build -c release --product thud-bench-train >/dev/null
BIN=$(swift build -c release --show-bin-path)/thud-bench-train
cc -O2 -shared -fPIC -o "$TMP/libthud_malloc_counter.so" tools/bench/model_malloc_counter.c

echo "== Swift ModelTrainer ($(date -u +%FT%TZ), $(nproc) cores, shared machine: figures are noisy) =="
OUT=$(OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$TMP/libthud_malloc_counter.so" \
    "$BIN" --sequences "$SEQUENCES" --steps "$STEPS" --batch "$BATCH" --epochs "$EPOCHS" --out "$TMP")
echo "$OUT" | grep -v '^SWIFT_SECONDS_PER_EPOCH'
SWIFT=$(echo "$OUT" | awk '/^SWIFT_SECONDS_PER_EPOCH/ {print $2}')
echo "== PyTorch reference, same model and data =="
python3 tools/bench/train_bench_torch.py "$TMP" "$SEQUENCES" "$STEPS" "$BATCH" "$EPOCHS" "$SWIFT"
