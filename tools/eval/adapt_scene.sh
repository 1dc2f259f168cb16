#!/bin/sh
# Issue 28 point 4: a recording as "your scene". Its first two thirds, cut into 6 s clips named like thud record's,
# go to WORK/NAME/adapt/; its last third to WORK/NAME/score/ (split.tsv: test). Then `thud-train adapt` on adapt/
# (--keep-worse, so the adapted model is scored whatever adapt decides) and `thud eval` of score/ with the bundled
# model and the adapted one. Release builds of thud and thud-train are used.
#
#   tools/eval/adapt_scene.sh WORK SEED RECORDING...
#
# Environment: FROM (the model adapted from and scored before, default models/default.thud), ADAPT_OPTIONS (more
# `thud-train adapt` options), TAG (names the adapted model, default s$SEED).
set -eu
work=$1; seed=$2; shift 2
repo=$(cd "$(dirname "$0")/../.." && pwd)
from=${FROM:-$repo/models/default.thud}
tag=${TAG:-s$seed}
for src in "$@"; do
    name=$(basename "${src%.*}")
    out=$work/$name
    mkdir -p "$out/adapt" "$out/score"
    d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src")
    python3 - "$src" "$out" "$d" <<'PY'
import subprocess, sys
src, out, d = sys.argv[1], sys.argv[2], float(sys.argv[3])
two = d * 2 / 3
n = max(3, round(two / 6))
L = two / n
enc = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "flac"]
for i in range(n):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{i*L:.3f}", "-t", f"{L:.3f}", "-i", src] + enc
                   + [f"{out}/adapt/rec-{i+1:03d}.mkv"], check=True)
subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{two:.3f}", "-i", src] + enc + [f"{out}/score/last-third.mkv"], check=True)
open(f"{out}/score/split.tsv", "w").write("file\tsplit\nlast-third.mkv\ttest\n")
PY
    # shellcheck disable=SC2086 # ADAPT_OPTIONS is a list of options
    "$repo/.build/release/thud-train" adapt "$out/adapt" --from "$from" --out "$out/mine-$tag.thud" \
        --cache "$work/cache" --keep-worse --seed "$seed" ${ADAPT_OPTIONS:-} >"$out/adapt-$tag.log" 2>&1
    echo "$name: $(grep -E '^adapting' "$out/adapt-$tag.log" | sed 's/: before.*//')"
    echo "  $(grep -E '^held out' "$out/adapt-$tag.log")"
    for m in "$from" "$out/mine-$tag.thud"; do
        printf '  %s on the last third: ' "$(basename "$m")"
        "$repo/.build/release/thud" eval "$out/score" --split test --classes all --model "$m" 2>/dev/null | grep -E '^model ' | head -1
    done
done
