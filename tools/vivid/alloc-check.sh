#!/bin/sh
# Heap allocations of live capture while it streams, measured: thud-capture-check runs in the vivid
# VM under an LD_PRELOAD allocation counter (malloc-count.c) with no per-step output (--quiet); it
# marks step 12 and the end of its loop, and the difference of the two totals is what the capture
# thread and the 12 Hz consumer allocated over the steps between (0 is the goal). The same for
# the native --bench-convert loop (conversion + ring push + take), which needs no VM.
#
#   tools/vivid/alloc-check.sh [STEPS]     (default 108)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
n=${1:-108}
cd "$repo"
mkdir -p .vm
gcc -O2 -shared -fPIC -o .vm/malloc-count.so "$here/malloc-count.c"
swift build --product thud-capture-check >&2
bin=$repo/.build/debug/thud-capture-check
lib=$repo/.vm/malloc-count.so
echo "native bench (YUYV 640x360 -> 96x96), 3000 frames:"
LD_PRELOAD=$lib "$bin" --bench-convert --frames 3000 --format yuyv --size 640x360 --model-size 96x96 2>&1 >/dev/null | grep malloc-count
run=$repo/.vm/alloc
rm -rf "$run"; mkdir -p "$run"
cat > "$run/alloc.sh" <<SCRIPT
for f in yuyv nv12 rgb24; do
    echo "vivid \$f, $n steps:"
    LD_PRELOAD=$lib timeout 60 "$bin" /dev/video0 --quiet --format \$f --frames $n 2>&1 | grep -E "malloc-count"
done
SCRIPT
"$here/run-in-vm.sh" --run-dir "$run" --timeout 200 -- sh "$run/alloc.sh"
