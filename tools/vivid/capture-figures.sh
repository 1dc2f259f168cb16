#!/bin/sh
# Figures for live capture against vivid: end-to-end latency from the driver's frame timestamp to
# the emitted 12 Hz step (median, p99), the step's delay after its own time, CPU used by the
# capture process, and frames dropped, over a 60 s run per configuration. Builds thud-capture-check
# in release mode and runs it in the vivid VM (tools/vivid/run-in-vm.sh).
#
#   tools/vivid/capture-figures.sh [SECONDS]        (default 60)
#
# Caveat printed with the figures: the guest runs under qemu TCG (software emulation), so its CPU
# time is that of an emulated CPU, many times what the same work costs natively.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
secs=${1:-60}
cd "$repo"
swift build -c release --product thud-capture-check >&2
bin=$(swift build -c release --show-bin-path)/thud-capture-check
run=$repo/.vm/figures
rm -rf "$run"; mkdir -p "$run"
cat > "$run/figures.sh" <<SCRIPT
for cfg in "yuyv_30 --format yuyv --fps 30 --size 640x360 --model-size 96x96" \\
           "grey_30 --format grey --fps 30 --size 320x180 --model-size 64x64"; do
    set -- \$cfg; name=\$1; shift
    timeout $((secs + 30)) "$bin" /dev/video0 --duration $secs "\$@" > "$run/\$name.out" 2> "$run/\$name.err"
    echo "\$name: status \$?"
    grep -E "negotiated|summary" "$run/\$name.err"
done
SCRIPT
"$here/run-in-vm.sh" --run-dir "$run" --timeout $((2 * secs + 120)) -- sh "$run/figures.sh"
echo "(guest CPU is emulated by qemu TCG: cpu_s overstates native cost)"
