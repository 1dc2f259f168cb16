#!/bin/sh
# Issue 38 point 5: real recordings replayed as live feeds through `thud watch --learn`, scored stretch by stretch
# against their own audio (tools/eval/learning_curve.py says how). Release builds of thud and thud-train are used
# (swift build -c release). matplotlib draws WORK/curve.png (pip install matplotlib); without it, WORK/curve.tsv only.
#
#   tools/eval/learning_curve.sh WORK [SCENE ...]
#
# Without SCENEs: realtrain's validation Greatest Hits recordings (../shared/realtrain), one scene per day (a day's
# recordings back to back). SCENE: NAME=REC1[+REC2...]. Environment: SEGMENT, EVERY, STRETCH, LEARNER_OPTIONS, MODEL.
set -eu
work=${1:?usage: learning_curve.sh WORK [SCENE ...]}; shift
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -eq 0 ]; then
    real=${REALTRAIN:-$repo/../shared/realtrain}
    [ -f "$real/split.tsv" ] || { echo "learning_curve.sh: $real/split.tsv: not there (give SCENEs)" >&2; exit 66; }
    set -- $(awk -F'\t' '$2 == "validation" && $1 ~ /^gh_/ { print $1 }' "$real/split.tsv" | sort | awk -v dir="$real/clips" '
        { day = substr($1, 4, 10); if (day != last && last != "") { print scene }
          scene = (day != last) ? "gh-" day "=" dir "/" $1 : scene "+" dir "/" $1; last = day }
        END { if (scene != "") print scene }')
fi
exec python3 "$repo/tools/eval/learning_curve.py" "$work" "$@"
