#!/usr/bin/env bash
# Reproduces models/default.thud: a synthetic corpus from thud-synth, thud-train on it, thud eval on its
# test split. Figures and the exact settings of the committed model are in models/README.md.
#
#   tools/train_default.sh            # CORPUS=~/.cache/thud/corpus-2026 unless set
#
# Takes about an hour on 2 cores (corpus generation dominates).
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-$HOME/.cache/thud/corpus-2026}
ARCH=${ARCH:-default}
EPOCHS=${EPOCHS:-25}
LR=${LR:-1e-3}
swift build -c release --product thud-synth >/dev/null
swift build -c release --product thud-train >/dev/null
swift build -c release --product thud >/dev/null
if [ ! -f "$CORPUS/labels.json" ]; then
    .build/release/thud-synth generate --out "$CORPUS" --train 2400 --validation 300 --test 300 --seed 2026
fi
.build/release/thud-train train "$CORPUS" --out models/default.thud --architecture "$ARCH" --epochs "$EPOCHS" \
    --onset-weight 4 --learning-rate "$LR" --batch-size 16 --seed 1
.build/release/thud eval --model models/default.thud "$CORPUS" --split test
