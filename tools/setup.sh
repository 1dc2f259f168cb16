#!/usr/bin/env bash
# Installs the system packages Thud builds against (Debian/Ubuntu). Idempotent; used by README's first
# command and by .ci/run. Swift itself (6.x, from swift.org) must already be on PATH.
set -euo pipefail
packages=(pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
          libv4l-dev libopenblas-dev libasound2-dev ffmpeg alsa-utils
          libmosquitto-dev                            # hits out as MQTT events (ThudMQTT)
          libsqlite3-dev sqlite3                      # the events database (ThudEvents, through GRDB); EventsTests' lock
          librtsp-server-perl mosquitto mosquitto-clients  # the network-stream tests' RTSP server and MQTT broker
          qemu-system-x86 busybox-static cpio kmod    # the vivid V4L2 test VM (tools/vivid)
          mypaint-data-extras mate-backgrounds        # real photographs for thud-synth's surface textures (3 + 46 MB)
          chromium)                                   # headless screenshots of eval pages (tools/eval/screenshot.sh, EvalRenderTests)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: Swift 6 is not on PATH; install it from https://swift.org/install/linux/" >&2; exit 1; }
