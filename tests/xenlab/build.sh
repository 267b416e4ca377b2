#!/bin/bash
# Build the Xen lab into $BUILD/xenlab from Debian 12 packages only:
# Xen 4.17 hypervisor (multiboot ELF), the Debian kernel, a dom0 initramfs
# (debootstrap minbase + xen-utils-4.17 + drbd-utils + iproute2 + libnl tools
# + the remus host kernel modules + $BUILD/bin) and a busybox PVH domU.
# Downloads and the debootstrap tree are cached under $BUILD/xenlab/cache, so a
# second build only repacks the initramfs.  Nothing touches the host's boot setup.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
BUILD=${BUILD:-build}
SRC=$(cd "$(dirname "$0")" && pwd)
LAB=$(mkdir -p "$BUILD/xenlab" && cd "$BUILD/xenlab" && pwd)
BIN=$(cd "$BUILD" && pwd)/bin
CACHE=$LAB/cache
SUITE=bookworm
# dom0 userland: Xen tools, the remus host tools and the runtime libraries our
# programs link against (same Debian 12 userland as the host that built them).
DOM0_PKGS=xen-utils-4.17,xenstore-utils,kmod,busybox,procps,iproute2,drbd-utils,libnl-utils,e2fsprogs,psmisc,libnl-3-200,libnl-route-3-200,libnl-nf-3-200,libnetfilter-queue1,libmnl0,libssl3,zlib1g,libinih1,libjson-c5,libxxhash0,libsystemd0,nbd-client
# XENLAB_HVM=1: also QEMU as Xen's device model, for the HVM scenario (60);
# off by default: it grows the dom0 image (own debootstrap cache key).
[ "${XENLAB_HVM:-0}" = 1 ] && DOM0_PKGS=$DOM0_PKGS,qemu-system-xen
# Kernel modules a Remus host needs, plus what the lab itself uses
# (virtio disk for the results image, ext4 for its file system, loop for the domU disk).
DOM0_MODS="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netback xen-blkback
	sch_plug sch_ingress ifb act_mirred cls_u32 drbd bridge loop virtio_pci virtio_blk ext4
	tun veth nbd"
DOMU_MODS="xen-netfront xen-blkfront"

t0=$SECONDS
step() { echo "xenlab-build: [$((SECONDS - t0))s] $*"; }
mkdir -p "$CACHE/debs"

# Kernel version: the one linux-image-amd64 points at in the configured source.
kver_file=$CACHE/kver
if [ ! -s "$kver_file" ]; then
	apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n1 >"$kver_file"
fi
KVER=$(cat "$kver_file")
[ -n "$KVER" ] || { echo "xenlab-build: cannot find the Debian kernel version (apt-get update?)" >&2; exit 1; }

# 1. Packages for the hypervisor, kernel and the domU's busybox, unpacked once.
X=$CACHE/x
if [ ! -e "$CACHE/x.stamp" ]; then
	step "downloading xen-hypervisor-4.17-amd64 linux-image-$KVER busybox-static"
	for p in xen-hypervisor-4.17-amd64 "linux-image-$KVER" busybox-static; do
		ls "$CACHE/debs/${p}_"*.deb >/dev/null 2>&1 || (cd "$CACHE/debs" && apt-get download -q "$p")
	done
	rm -rf "$X"; mkdir -p "$X"
	for f in "$CACHE"/debs/*.deb; do dpkg -x "$f" "$X"; done
	# Keep only what the lab uses (boot/, lib/modules, bin/busybox): the top-level
	# Makefile reads every *.d under $BUILD as a dependency file.
	rm -rf "$X/usr/share" "$X/etc"
	find "$X" -name "*.d" -prune -exec rm -rf {} +
	depmod -b "$X" "$KVER"
	touch "$CACHE/x.stamp"
fi
zcat "$X/boot/xen-4.17-amd64.gz" >"$LAB/xen.elf.tmp" && mv "$LAB/xen.elf.tmp" "$LAB/xen.elf"
cp "$X/boot/vmlinuz-$KVER" "$LAB/vmlinuz"

# Work trees live outside the build tree (the top-level Makefile scans $BUILD
# for *.d files) and are removed on exit, even after a failure.
WORK=$(mktemp -d /var/tmp/xenlab-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# 2. dom0 base: debootstrap, cached as an uncompressed cpio keyed by the package
# list, with the list of its files (to know which libraries it already has).
key=$(echo "$SUITE $DOM0_PKGS" | md5sum | cut -c1-12)
BASE=$CACHE/rootfs-$key
if [ ! -s "$BASE.cpio" ] || [ ! -s "$BASE.files" ]; then
	step "debootstrap $SUITE (minbase + $DOM0_PKGS)"
	B=$WORK/base
	debootstrap --variant=minbase --include="$DOM0_PKGS" "$SUITE" "$B" >"$CACHE/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
	(cd "$B" && rm -rf usr/share/doc usr/share/man usr/share/locale usr/share/info \
		var/cache/apt/*.bin var/cache/apt/archives/*.deb var/lib/apt/lists/*)
	cp "$B/etc/xen/xl.conf" "$BASE.xl.conf"
	(cd "$B" && find . | cpio -o -H newc --quiet) >"$BASE.cpio.tmp"
	(cd "$B" && find . ! -type d | sed 's|^\.||') >"$BASE.files"
	mv "$BASE.cpio.tmp" "$BASE.cpio"
	rm -rf "$B"
fi

# copy_modules ROOT MODULE... : copy each module and its dependencies from the
# unpacked kernel package into ROOT/usr/lib/modules and index them there
# (Debian 12 has a merged /usr: /lib is a symlink the overlay must not replace).
copy_modules() {
	local root=$1; shift
	local m f mods=$root/usr/lib/modules/$KVER
	mkdir -p "$mods"
	for m in "$@"; do
		modprobe -d "$X" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
	done | sort -u | while read -r f; do
		f=${f#"$X"/lib/modules/"$KVER"/}
		mkdir -p "$mods/$(dirname "$f")"
		cp "$X/lib/modules/$KVER/$f" "$mods/$f"
	done
	cp "$X/lib/modules/$KVER"/modules.{builtin,builtin.modinfo,order} "$mods/"
	mkdir -p "$WORK/depmod"; rm -rf "$WORK/depmod/lib"; ln -s "$root/usr/lib" "$WORK/depmod/lib"
	depmod -b "$WORK/depmod" "$KVER"
}

# 3. domU: busybox + net/block front ends + our /init, as an uncompressed cpio.
step "packing the domU initramfs"
U=$WORK/domu
mkdir -p "$U"/{bin,dev,proc,sys,tmp,www/cgi-bin}
ln -s usr/lib "$U/lib"
cp "$X/bin/busybox" "$U/bin/busybox"
for a in $("$U/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$U/bin/$a"; done
copy_modules "$U" $DOMU_MODS
install -m 0755 "$SRC/domu-init" "$U/init"
install -m 0755 "$SRC/domu-counter.cgi" "$U/www/cgi-bin/counter"
(cd "$U" && find . | cpio -o -H newc --quiet) >"$LAB/domu.cpio"

# 4. dom0: the cached base followed by an overlay cpio (the kernel unpacks
# concatenated archives in order) with modules, our programs and lab files.
step "packing the dom0 initramfs"
R=$WORK/dom0
copy_modules "$R" $DOM0_MODS
mkdir -p "$R/usr/local/bin" "$R/root" "$R/etc/xen/scripts"
if [ -d "$BIN" ] && [ -n "$(ls -A "$BIN" 2>/dev/null)" ]; then
	cp "$BIN"/* "$R/usr/local/bin/"
	# Any shared library our programs need that the dom0 packages lack comes
	# from the host (same Debian 12 userland).
	for p in "$BIN"/*; do
		ldd "$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
	done | sort -u | while read -r lib; do
		lib=/usr${lib#/usr}
		grep -qxF "$lib" "$BASE.files" || { mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; }
	done
fi
# Lab-only test helpers and the host tests scenario 50 reruns in dom0, in
# the tree layout those tests expect (BUILD=build under /usr/local/lib/remus-tests).
T=$R/usr/local/lib/remus-tests
mkdir -p "$T/build/tests/netbuf" "$T/build/tests/xenlab" "$T/tests/netbuf" "$T/tests/integration"
for h in netbuf/nb_drive netbuf/nb_recv xenlab/drbd-lab xenlab/nbd-lab; do
	[ -x "$BUILD/tests/$h" ] && cp "$BUILD/tests/$h" "$T/build/tests/$h"
done
cp "$SRC/../netbuf/lib.sh" "$T/tests/netbuf/lib.sh"
cp "$SRC/../integration/netbuf_plug.sh" "$T/tests/integration/netbuf_plug.sh"
cp "$LAB/vmlinuz" "$R/root/vmlinuz"
cp "$LAB/domu.cpio" "$R/root/domu.cpio"
install -m 0644 "$SRC/domu.cfg" "$R/etc/xen/domu.cfg"
install -m 0644 "$SRC/domu-hvm.cfg" "$R/etc/xen/domu-hvm.cfg"
install -m 0755 "$SRC/xenlab-block" "$R/etc/xen/scripts/xenlab-block"
{ grep -v '^autoballoon' "$BASE.xl.conf"; echo 'autoballoon="off"'; } >"$R/etc/xen/xl.conf"
install -m 0755 "$SRC/dom0-init" "$R/init"
(cd "$R" && find . ! -path . | cpio -o -H newc --quiet) >"$WORK/overlay.cpio"
cat "$BASE.cpio" "$WORK/overlay.cpio" >"$LAB/dom0.cpio.tmp"
mv "$LAB/dom0.cpio.tmp" "$LAB/dom0.cpio"
echo "$KVER" >"$LAB/kver"
step "done: $LAB/{xen.elf,vmlinuz,dom0.cpio} ($(du -m "$LAB/dom0.cpio" | cut -f1) MiB initramfs)"
