#!/bin/sh
# Issue 8 latency figures: submission of a hit → first knock sample leaving the device buffer,
# through real alsa-lib, for ALSA's file>null chain (paced by the sink's wall clock) and for an
# in-process ioplug card paced like hardware (with an independent figure from the card's clock).
# Prints one line per configuration with median/p99/max against the bound (one period + 10 ms).
# Debug build on purpose: thud-bench-sound reaches ThudSound's test hooks with @testable import, and
# latency here is scheduling-bound, not compute-bound (rendering a 5 ms period costs microseconds).
set -eu
cd "$(dirname "$0")/../.."
swift build --product thud-bench-sound >/dev/null 2>&1 || swift build --product thud-bench-sound
.build/debug/thud-bench-sound latency 2>&1 | grep -E '^sound_latency|error|failed' || true
