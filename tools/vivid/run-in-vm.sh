#!/bin/sh
# Runs a command inside a qemu VM whose kernel is Debian's own, with `vivid` (the kernel's virtual
# video test driver) loaded, so V4L2 code can be tested against a real driver on a machine that has no
# camera and no V4L2 in its own kernel. Recipe: /work/shared/notes/vivid-under-qemu.md.
#
#   tools/vivid/run-in-vm.sh [options] -- COMMAND [ARGS...]
#
# The guest sees the host's root read-only (9p/virtfs), so COMMAND is a host path (e.g. a binary in
# .build/). A run folder (--run-dir, default .vm/run) is shared read-write at the same path, so the
# command can leave files for the host; COMMAND's stdout/stderr are written there and printed here,
# and this script exits with COMMAND's exit status (125 when the VM did not report one).
#
# Options:
#   --vivid "OPTS"    module parameters for vivid (default: "n_devs=3 node_types=0x1,0x1,0x1":
#                     three capture-only instances, /dev/video0..2, so fault-injection checks that
#                     kill a device can use their own instance)
#   --run-dir DIR     shared read-write folder (created; emptied of stdout/stderr/rc first)
#   --timeout S       wall-clock limit for the whole VM (default 240); never hangs past it
#   --mem MB          guest memory (default 1024)
#   --prepare         only fetch the kernel and build the initramfs (no VM), e.g. for CI caching
#
# Environment: THUD_VM_CACHE (default <repo>/.vm), THUD_KERNEL_VERSION (default: what
# linux-image-amd64 depends on, e.g. 6.1.0-56-amd64).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${THUD_VM_CACHE:-$repo/.vm}
vivid_opts="n_devs=3 node_types=0x1,0x1,0x1"
run_dir=$cache/run
timeout_s=240
mem=1024
prepare_only=0

die() { echo "run-in-vm: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
    case "$1" in
        --vivid) vivid_opts=$2; shift 2 ;;
        --run-dir) run_dir=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --prepare) prepare_only=1; shift ;;
        --) shift; break ;;
        *) die "unknown option '$1' (usage: run-in-vm.sh [options] -- COMMAND [ARGS...])" ;;
    esac
done
[ $# -gt 0 ] || [ $prepare_only = 1 ] || die "no command given (usage: run-in-vm.sh [options] -- COMMAND [ARGS...])"

# --- host packages: CI starts from a clean machine, so install what is missing when we can.
need=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
# A dynamically linked busybox (package `busybox`) cannot run in the initramfs: the static one is needed.
bb=$(command -v busybox 2>/dev/null || true)
{ [ -n "$bb" ] && ! ldd "$bb" >/dev/null 2>&1; } || need="$need busybox-static"
command -v cpio >/dev/null 2>&1 || need="$need cpio"
command -v depmod >/dev/null 2>&1 || need="$need kmod"
command -v v4l2-ctl >/dev/null 2>&1 || need="$need v4l-utils"   # seen by the guest through the shared root
if [ -n "$need" ]; then
    [ "$(id -u)" = 0 ] || die "missing packages:$need (install them with apt-get, or run as root)"
    echo "run-in-vm: installing$need" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; } >&2 \
        || die "apt-get install$need failed"
fi
busybox=$(command -v busybox)
ldd "$busybox" >/dev/null 2>&1 && die "$busybox is dynamically linked; install busybox-static"

# --- kernel: Debian's package, unpacked into the cache (never into the repository).
kver=${THUD_KERNEL_VERSION:-$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n1)}
[ -n "$kver" ] || die "cannot tell the kernel version (apt-cache depends linux-image-amd64 named none; set THUD_KERNEL_VERSION)"
kdir=$cache/kernel-$kver
mkdir -p "$cache"
if [ ! -f "$kdir/.ready" ]; then
    echo "run-in-vm: fetching linux-image-$kver" >&2
    rm -rf "$kdir" "$cache/debs"; mkdir -p "$kdir" "$cache/debs"
    (cd "$cache/debs" && apt-get download "linux-image-$kver" >&2) || {
        [ "$(id -u)" = 0 ] && apt-get update -qq >&2 && (cd "$cache/debs" && apt-get download "linux-image-$kver" >&2)
    } || die "apt-get download linux-image-$kver failed"
    dpkg -x "$cache"/debs/linux-image-"$kver"_*.deb "$kdir" || die "dpkg -x failed"
    depmod -b "$kdir" "$kver" || die "depmod failed"
    rm -rf "$cache/debs"
    touch "$kdir/.ready"
fi
vmlinuz=$kdir/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no $vmlinuz in the unpacked package"

# --- initramfs: static busybox, vivid, snd-aloop (ALSA's loopback card: a real capture device for `thud record`)
# and the 9p modules with their dependencies, in load order.
initrd=$cache/initrd-$kver.gz
if [ ! -f "$initrd" ] || [ "$here/run-in-vm.sh" -nt "$initrd" ]; then
    echo "run-in-vm: building initramfs" >&2
    ird=$cache/initramfs; rm -rf "$ird"
    mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot" "$ird/modules"
    cp "$busybox" "$ird/bin/busybox"
    for applet in sh mount umount mkdir insmod cat echo poweroff sleep chroot switch_root ls; do
        ln -s busybox "$ird/bin/$applet"
    done
    : > "$ird/modules/order"
    for m in virtio_pci 9pnet_virtio 9p snd-aloop vivid; do
        modprobe -d "$kdir" -S "$kver" --show-depends "$m" 2>/dev/null | while read -r kind path _; do
            [ "$kind" = insmod ] || continue
            name=$(basename "$path"); base=${name%%.ko*}
            grep -qx "$base.ko" "$ird/modules/order" && continue
            case "$name" in
                *.ko.xz) xz -dc "$path" > "$ird/modules/$base.ko" ;;
                *.ko.zst) zstd -qdc "$path" > "$ird/modules/$base.ko" ;;
                *.ko.gz) gzip -dc "$path" > "$ird/modules/$base.ko" ;;
                *) cp "$path" "$ird/modules/$base.ko" ;;
            esac
            echo "$base.ko" >> "$ird/modules/order"
        done
    done
    grep -qx vivid.ko "$ird/modules/order" || die "vivid.ko not found in linux-image-$kver"
    grep -qx 9p.ko "$ird/modules/order" || die "9p.ko not found in linux-image-$kver"
    cat > "$ird/init" <<'INIT'
#!/bin/sh
# PID 1 in the guest: load modules, mount the host's root read-only and the run folder read-write
# at the same path, run the command, record its status, power off.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
vivid_opts=""
[ -n "${thud_run:-}" ] || { echo "init: thud_run= missing on the kernel command line"; poweroff -f; }
for m in $(cat /modules/order); do
    [ "$m" = vivid.ko ] && continue        # loaded last, with its options from the run folder
    insmod /modules/$m 2>/dev/null
done
# cache=loose: each check starts a process that maps ~140 shared libraries (FFmpeg's dependencies)
# through 9p; caching them in the guest makes every start after the first cheap. Safe here: the
# share is read-only and the VM lives for one session. The run folder stays uncached.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /newroot || { echo "init: cannot mount hostroot"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=262144 thudrun "/newroot$thud_run" || { echo "init: cannot mount run folder"; poweroff -f; }
[ -f "/newroot$thud_run/vivid.opts" ] && vivid_opts=$(cat "/newroot$thud_run/vivid.opts")
insmod /modules/vivid.ko $vivid_opts || echo "init: insmod vivid failed" > "/newroot$thud_run/stderr"
mount --move /dev /newroot/dev
# Scratch space goes on /run, not over /tmp: a checkout (and so the binaries under test) may live in the
# host's /tmp, as a CI clone can, and a tmpfs there would hide it.
mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys; mount -t tmpfs tmp /newroot/run
chroot /newroot /bin/sh -c 'cd "$1"; HOME=/run TMPDIR=/run PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin exec /bin/sh ./cmd.sh >./stdout 2>>./stderr' sh "$thud_run"
echo $? > "/newroot$thud_run/rc"
sync
poweroff -f
INIT
    chmod +x "$ird/init"
    (cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp" && mv "$initrd.tmp" "$initrd"
    rm -rf "$ird"
fi
[ $prepare_only = 1 ] && { echo "run-in-vm: ready ($kver)" >&2; exit 0; }

# --- the run folder: command script, vivid options; results come back here.
mkdir -p "$run_dir"; run_dir=$(cd "$run_dir" && pwd)
rm -f "$run_dir/stdout" "$run_dir/stderr" "$run_dir/rc"
: > "$run_dir/stderr"
printf '%s\n' "$vivid_opts" > "$run_dir/vivid.opts"
{
    printf 'exec'
    for a in "$@"; do printf " '%s'" "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")"; done
    printf '\n'
} > "$run_dir/cmd.sh"

# TCG: KVM is present on some hosts but did not boot a guest here; software emulation always does.
# One vCPU keeps the load on the shared machine to a single core.
console_log=$run_dir/console.log
set +e
timeout -k 5 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$mem" \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 thud_run=$run_dir" \
    -nographic -no-reboot -monitor none -serial file:"$console_log" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs local,path="$run_dir",mount_tag=thudrun,security_model=none \
    </dev/null >/dev/null 2>"$run_dir/qemu.err"
qrc=$?
set -e
cat "$run_dir/stdout" 2>/dev/null || true
cat "$run_dir/stderr" >&2 2>/dev/null || true
if [ -f "$run_dir/rc" ]; then
    exit "$(cat "$run_dir/rc")"
fi
[ $qrc = 124 ] || [ $qrc = 137 ] && die "VM timed out after ${timeout_s}s (console: $console_log)"
die "VM ended (qemu status $qrc) without the command's status (console: $console_log; qemu: $run_dir/qemu.err)"
