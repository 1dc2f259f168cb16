#!/usr/bin/env bash
# Reproduces models/default.thud: the full-size synthetic corpus and a separate test split from thud-synth,
# thud-train on the corpus, thud eval on the test split. Figures and the exact settings of the committed
# model are in models/README.md.
#
#   tools/train_default.sh            # CORPUS=~/.cache/thud/corpus14k, TEST=~/.cache/thud/test600 unless set
#
# Takes about 1 h 30 min on 2 cores (50 min corpus, 6 min decoding, 11 epochs of ~2.5 min).
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-$HOME/.cache/thud/corpus14k}
TEST=${TEST:-$HOME/.cache/thud/test600}
ARCH=${ARCH:-default}
EPOCHS=${EPOCHS:-11}
LR=${LR:-1e-3}
swift build -c release --product thud-synth >/dev/null
swift build -c release --product thud-train >/dev/null
swift build -c release --product thud >/dev/null
if [ ! -f "$CORPUS/labels.json" ]; then
    .build/release/thud-synth generate --out "$CORPUS" --train 13000 --validation 1700 --seed 2026
fi
if [ ! -f "$TEST/labels.json" ]; then
    .build/release/thud-synth generate --out "$TEST" --test 600 --seed 2026
fi
.build/release/thud-train train "$CORPUS" --out models/default.thud --architecture "$ARCH" --epochs "$EPOCHS" \
    --onset-weight 4 --learning-rate "$LR" --batch-size 16 --seed 1
.build/release/thud eval --model models/default.thud "$TEST" --split test
