#!/usr/bin/env bash
# Reproduces models/default.thud: the full-size synthetic corpus and a separate test split from thud-synth,
# thud-train on the corpus in two stages, thud eval on the test split. Figures and the exact settings of the
# committed model are in models/README.md.
#
#   tools/train_default.sh            # CORPUS=~/.cache/thud/corpus14k, TEST=~/.cache/thud/test600 unless set
#
# Stage 1 trains the envelope-only model (--architecture default); stage 2 starts the onset model
# (--architecture default-onset: a second output trained on the audio's onset strength, ×3 and clamped to 1,
# beside the envelope; about half its training windows mirrored) from its weights. From scratch the onset
# model stayed at a clip-independent prior for the two epochs we let it run (val r 0.19); from the envelope
# model's weights it improves from the first epoch.
# Takes about 1 h 25 min on 2 cores (50 min corpus, 4 min decoding, 8 epochs of ~2.5 min; 30 min more with
# STAGE1=train).
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-$HOME/.cache/thud/corpus14k}
TEST=${TEST:-$HOME/.cache/thud/test600}
WORK=${WORK:-$HOME/.cache/thud}
swift build -c release --product thud-synth >/dev/null
swift build -c release --product thud-train >/dev/null
swift build -c release --product thud >/dev/null
if [ ! -f "$CORPUS/labels.json" ]; then
    .build/release/thud-synth generate --out "$CORPUS" --train 13000 --validation 1700 --seed 2026
fi
if [ ! -f "$TEST/labels.json" ]; then
    .build/release/thud-synth generate --out "$TEST" --test 600 --seed 2026
fi
# Stage 1: the envelope model, the bundled model of commit 4ca0d9a, which this command trained then (best of
# 11 epochs, epoch 9, chosen with that commit's level peak picker and visible-only true hits). Taken from git so
# stage 2 starts from exactly those weights; STAGE1=train retrains it (the same weights per epoch, but today's
# validation picker may choose another epoch).
if [ "${STAGE1:-git}" = train ]; then
    .build/release/thud-train train "$CORPUS" --out "$WORK/envelope.thud" --architecture default --epochs 11 \
        --onset-weight 4 --learning-rate 1e-3 --batch-size 16 --seed 1
else
    git show 4ca0d9a:models/default.thud > "$WORK/envelope.thud"
fi
# Stage 2: the onset output beside it, from stage 1's weights, at a lower learning rate.
.build/release/thud-train train "$CORPUS" --out models/default.thud --architecture default-onset \
    --warm-start "$WORK/envelope.thud" --epochs 8 --onset-weight 4 --learning-rate 3e-4 --batch-size 16 --seed 1 \
    --onset-target-gain 3 --mirror
.build/release/thud eval --model models/default.thud "$TEST" --split test
