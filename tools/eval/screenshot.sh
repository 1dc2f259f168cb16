#!/usr/bin/env bash
# Renders a `thud eval --html` page in headless Chromium and saves a screenshot, to check that the page (tables,
# inline PNG charts) displays in a real browser. Look at the PNG afterwards.
#
#   tools/eval/screenshot.sh report.html [shot.png] [WIDTHxHEIGHT]
#
# Needs the Debian package `chromium` (apt-get install -y chromium). Exits non-zero when the page is missing,
# Chromium is missing, or no screenshot was written.
set -euo pipefail
page=${1:?usage: tools/eval/screenshot.sh report.html [shot.png] [WIDTHxHEIGHT]}
shot=${2:-${page%.html}.png}
size=${3:-1200x2000}
[[ -f $page ]] || { echo "screenshot.sh: $page: no such file" >&2; exit 10; }
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "screenshot.sh: chromium not found (apt-get install -y chromium)" >&2; exit 1; }
url="file://$(realpath "$page")"
rm -f "$shot"
# A throwaway profile, no GPU, no sandbox (runs as root in CI containers); the page has no scripts, so the
# screenshot is taken once it has loaded.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --screenshot="$(realpath -m "$shot")" --window-size="${size/x/,}" "$url" >/dev/null 2>&1 || true
[[ -s $shot ]] || { echo "screenshot.sh: chromium wrote no screenshot for $page" >&2; exit 1; }
echo "$shot"
