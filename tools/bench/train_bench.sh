#!/usr/bin/env bash
# Training benchmark: seconds per epoch of our trainer and of the PyTorch reference of the same model on the same
# cached data, side by side in one run, on the CPU.
#
# The model is the bundled one (models/default.thud: its architecture — 96x96 frames, five conv layers, a 2x128
# LSTM, the envelope and onset outputs — and its weights as the starting point), trained with the settings of its
# stage 2 (tools/train_default.sh). The data is the first CLIPS usable training clips of a thud-synth corpus in
# thud-train's feature cache (~/.cache/thud/clips; what it lacks is decoded into it first, untimed; both sides
# read the same entries). The Swift side (thud-bench-train) is TrainingRun itself, the loop `thud-train train`
# runs, on two threads (OpenBLAS single-threaded inside each); the PyTorch side (train_bench_torch.py) reads the same cache entries and trains on
# exactly the same batches (the same windows, members and mirrored windows per epoch) with torch.set_num_threads(2),
# after checking that its first-batch loss under the starting weights equals Swift's. The two alternate for ROUNDS
# rounds so that both see the same load on this shared machine; the summary takes each side's best epoch (wall and
# CPU seconds) and prints the ratio. Also prints the Swift side's heap allocations per computeGradients after
# warm-up (LD_PRELOAD counter).
#
# Usage: tools/bench/train_bench.sh [DATASET] [CLIPS] [EPOCHS] [ROUNDS]   (defaults: see below, 256 2 2)
# DATASET defaults to $HOME/.cache/thud/bench-corpus, generated on first use (thud-synth generate --train 450
# --seed 2030, about 2 minutes; 256 of its clips are usable training clips of the sound classes). Any corpus works,
# e.g. tools/train_default.sh's $HOME/.cache/thud/corpus14k. MODEL=path benchmarks another model file (its
# architecture and weights); THREADS=1 compares one thread on each side. Needs torch (pip install torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATASET=${1:-$HOME/.cache/thud/bench-corpus}
CLIPS=${2:-256}
EPOCHS=${3:-2}
ROUNDS=${4:-2}
THREADS=${THREADS:-2}
MODEL=${MODEL:-models/default.thud}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"${PYTHON:-python3}" -c 'import torch' 2>/dev/null || { echo "train_bench.sh: needs PyTorch (pip install torch)" >&2; exit 1; }
swift build -c release --product thud-bench-train >/dev/null
BIN=$(swift build -c release --show-bin-path)
if [ ! -f "$DATASET/labels.json" ] && [ "$DATASET" = "$HOME/.cache/thud/bench-corpus" ]; then
    swift build -c release --product thud-synth >/dev/null
    echo "-- generating the benchmark corpus in $DATASET"
    "$BIN/thud-synth" generate --out "$DATASET" --train 450 --seed 2030 --surface-share 0 --resume >/dev/null 2>"$TMP/synth.log" \
        || { cat "$TMP/synth.log" >&2; exit 1; }
    tail -n 1 "$TMP/synth.log"
fi
cc -O2 -shared -fPIC -o "$TMP/libthud_malloc_counter.so" tools/bench/model_malloc_counter.c

echo "== $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: figures are noisy) =="
SWIFT_WALL=1e9 SWIFT_CPU=1e9 TORCH_WALL=1e9 TORCH_CPU=1e9
min() { python3 -c "print(min($1, $2))"; }
for round in $(seq "$ROUNDS"); do
    echo "-- round $round: Swift TrainingRun"
    OUT=$(OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$TMP/libthud_malloc_counter.so" \
        "$BIN/thud-bench-train" "$DATASET" --model "$MODEL" --clips "$CLIPS" --epochs "$EPOCHS" --threads "$THREADS" --out "$TMP")
    echo "$OUT" | grep -v '^SWIFT_SECONDS_PER_EPOCH'
    read -r W C < <(echo "$OUT" | awk '/^SWIFT_SECONDS_PER_EPOCH/ {print $2, $3}')
    SWIFT_WALL=$(min "$SWIFT_WALL" "$W"); SWIFT_CPU=$(min "$SWIFT_CPU" "$C")
    echo "-- round $round: PyTorch reference, same model, same cached clips, same batches"
    OUT=$("${PYTHON:-python3}" tools/bench/train_bench_torch.py "$TMP" "$THREADS")
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
