#!/usr/bin/env bash
# Streaming-model benchmark: Swift (release, one core, OpenBLAS 1 thread, LD_PRELOAD malloc counter) and PyTorch
# (one thread) on the same model and frames, in the same run; prints latencies, allocations per step, the roofline
# line (FLOPs per step, GFLOP/s, share of this core's FMA-loop peak measured in the same run), each conv layer alone
# by every kernel, and the ratio.
# Usage: tools/bench/model_bench.sh [default|onset|motion|large|MODEL.thud] [STEPS]     (CORE=1 picks the pinned core)
#        PYTHON=/path/to/python picks the interpreter that has torch (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCH=${1:-default}
STEPS=${2:-3000}
CORE=${CORE:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

swift build -c release --product thud-bench-model >/dev/null
BIN=$(swift build -c release --show-bin-path)/thud-bench-model
cc -O2 -shared -fPIC -o "$TMP/libthud_malloc_counter.so" tools/bench/model_malloc_counter.c

echo "== Swift ($(date -u +%FT%TZ), core $CORE of $(nproc), shared machine: figures are noisy) =="
OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$TMP/libthud_malloc_counter.so" taskset -c "$CORE" \
    "$BIN" $([ -f "$ARCH" ] && echo --model || echo --arch) "$ARCH" --steps "$STEPS" --out "$TMP"
echo "== PyTorch, same model and frames =="
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c "$CORE" "${PYTHON:-python3}" tools/bench/model_bench_torch.py "$TMP" "$STEPS"
