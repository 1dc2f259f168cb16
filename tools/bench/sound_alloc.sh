#!/bin/sh
# Counts heap allocations on the audio thread ("thud-audio") while the sink plays knocks and
# envelope noise through real alsa-lib (file>null) with an underrun recovery in each mode.
# Every malloc/calloc/realloc in the process stops in gdb, which checks the thread name and
# records the call stack: the claim "rendering and writing never allocate" holds when the
# only sites listed are one-off thread start-up (alsa-lib or the runtime on first use), not
# ones that grow with the ~800 periods written.
set -eu
cd "$(dirname "$0")/../.."
swift build --product thud-bench-sound >/dev/null 2>&1 || swift build --product thud-bench-sound
# `sound_alloc.sh capture`: the same for thud record's capture thread ("thud-audio-in"), 3 s of 10 ms periods.
if [ "${1:-}" = capture ]; then
    THUD_ALLOC_THREAD=thud-audio-in gdb -q -batch -x tools/bench/sound_alloc.gdb.py --args .build/debug/thud-bench-sound capture-alloc 2>&1 \
      | grep -E '^sound_alloc|error|failed' || true
    exit 0
fi
gdb -q -batch -x tools/bench/sound_alloc.gdb.py --args .build/debug/thud-bench-sound alloc 2>&1 \
  | grep -E '^sound_alloc|error|failed' || true
