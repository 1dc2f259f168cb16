#!/usr/bin/env bash
# Evaluates a model on ../shared/realclips/ and renders every clip, for looking and listening (never for tuning).
#
#   tools/eval/realclips.sh OUTDIR [MODEL]
#
# Writes OUTDIR/table.txt (the eval tables, per clip too), report.json, report.html, plots/, page.png (headless
# Chromium, when installed) and render/<clip>.mp4 + .gif. MODEL defaults to the bundled model (THUD_MODEL or
# models/default.thud). Uses .build/debug/thud, or THUD=path.
set -euo pipefail
out=${1:?usage: tools/eval/realclips.sh OUTDIR [MODEL]}
here=$(cd "$(dirname "$0")/../.." && pwd)
clips=${REALCLIPS:-$here/../shared/realclips}
thud=${THUD:-$here/.build/debug/thud}
model=()
[[ $# -ge 2 ]] && model=(--model "$2")
mkdir -p "$out/render"
"$thud" eval "${model[@]}" "$clips" --per-clip --out "$out/report.json" --plots "$out/plots" --html "$out/report.html" | tee "$out/table.txt"
for f in "$clips"/*.mp4; do
    name=$(basename "$f" .mp4)
    "$thud" render "${model[@]}" "$f" --out "$out/render/$name.mp4" --gif
done
if command -v chromium >/dev/null; then "$here/tools/eval/screenshot.sh" "$out/report.html" "$out/page.png" 1200x2400; fi
