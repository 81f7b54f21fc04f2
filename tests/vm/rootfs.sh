# shellcheck shell=bash
# tests/vm/rootfs.sh: a real Debian 12 root file system for the lab's
# "installed system" guests (lab_start --rootfs, scenario boot).  Sourced by
# lib.sh users; needs root, mmdebstrap (tests/vm/deps) and, once, Debian's
# package archive.
#
# Two layers, both cached under DTRBD_LAB_CACHE (/var/cache/dtrbd-lab):
#
#   rootfs-base-KEY/      mmdebstrap of bookworm with what an operator's host
#                         has before dtrbd: systemd as init, udev, lvm2,
#                         libvirt with the QEMU driver, the kernel and its
#                         headers (for DKMS), and the libraries dtrbd's
#                         packages link.  KEY hashes this file's package list
#                         and mirror: built once (~5-10 min, most of it the
#                         download), then reused.
#   rootfs-KEY.img        the base unpacked, dtrbd's .deb files installed in
#                         it by apt (dpkg and the packages' own maintainer
#                         scripts: DKMS builds dtrbd.ko for the image's
#                         kernel, systemd units are enabled by their
#                         postinst), the lab's agent unit added, and the
#                         tree written into an ext4 image with mke2fs -d (no
#                         loop device or mount needed).  KEY hashes the base,
#                         the .deb files and the lab's guest files; the
#                         newest few are kept.  Also KEY.vmlinuz and
#                         KEY.initrd: the image's own kernel and initramfs,
#                         booted by QEMU's -kernel/-initrd.
#
# API:
#   rootfs_image DEBDIR   build or reuse the image for the .deb files in
#                         DEBDIR; sets ROOTFS_IMAGE ROOTFS_KERNEL ROOTFS_INITRD
#                         ROOTFS_KVER
#   rootfs_debs           the directory of .deb files to install: $DTRBD_LAB_DEBS
#                         (tools/check passes the ones its packages step built),
#                         else built now by tools/packages into the run directory

ROOTFS_IMAGE=""
ROOTFS_KERNEL=""
ROOTFS_INITRD=""
ROOTFS_KVER=""

# What the host has before dtrbd is installed.  Recommends are off: each
# package here is needed.
#   systemd systemd-sysv udev dbus   init, udevd, systemctl
#   linux-image-amd64 linux-headers-amd64 initramfs-tools   the kernel booted,
#                     the headers DKMS builds against, its initramfs
#   dkms gcc make libc6-dev          what dtrbd-dkms's build needs
#   lvm2              the volume groups provision uses; lvm2-activation at boot
#   libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
#   qemu-system-x86 qemu-utils       the service VMs (nested KVM domains)
#   jq                dtrbd-utils' dependency (dtrbd-shutdown)
#   libnl-3-200 libnl-genl-3-200 libboost-program-options1.74.0 libssl3
#   libsystemd0 libvirt0 libxml2 libstdc++6 libtomlplusplus3   what dtrbdctl/dtrbdd link
#   socat busybox iproute2 procps util-linux kmod   the lab's agent and checks
#   e2fsprogs         mkfs inside the guests
_ROOTFS_PACKAGES=(
	systemd systemd-sysv udev dbus
	linux-image-amd64 linux-headers-amd64 initramfs-tools
	dkms gcc make libc6-dev
	lvm2
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
	qemu-system-x86 qemu-utils
	jq
	libnl-3-200 libnl-genl-3-200 libboost-program-options1.74.0 libssl3
	libsystemd0 libvirt0 libxml2 libstdc++6 libtomlplusplus3
	socat busybox iproute2 procps util-linux kmod e2fsprogs
)
_ROOTFS_MIRROR=${DTRBD_LAB_MIRROR:-http://deb.debian.org/debian}
_ROOTFS_SECURITY=${DTRBD_LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# Size of the ext4 image (sparse; the guests write to qcow2 overlays).
_ROOTFS_SIZE=${DTRBD_LAB_ROOTFS_SIZE:-6G}

_rootfs_cache() { echo "${DTRBD_LAB_CACHE:-/var/cache/dtrbd-lab}"; }

# _rootfs_base: the cached mmdebstrap tree (built if missing); prints its path.
_rootfs_base() {
	local cache key out tmp
	cache=$(_rootfs_cache)
	key=$(printf '%s\n' "rootfs-base v1" "$_ROOTFS_MIRROR" "$_ROOTFS_SECURITY" \
		"${_ROOTFS_PACKAGES[@]}" | sha256sum | cut -c1-16)
	out="$cache/rootfs-base-$key"
	if [[ -f "$out/.dtrbd-lab-base" ]]; then
		echo "$out"
		return 0
	fi
	command -v mmdebstrap >/dev/null ||
		{ echo "rootfs: mmdebstrap is missing: run tests/vm/deps (apt-get install mmdebstrap)" >&2; return 1; }
	mkdir -p "$cache"
	tmp="$out.tmp.$$"
	echo "rootfs: building the Debian 12 base root file system (once; cached as $out)" >&2
	local t0=$EPOCHSECONDS
	if ! mmdebstrap --quiet --variant=apt --mode=root \
		--aptopt='APT::Install-Recommends "false"' \
		--include="$(IFS=,; echo "${_ROOTFS_PACKAGES[*]}")" \
		bookworm "$tmp" \
		"deb $_ROOTFS_MIRROR bookworm main" \
		"deb $_ROOTFS_MIRROR bookworm-updates main" \
		"deb $_ROOTFS_SECURITY bookworm-security main" >"$cache/rootfs-base-$key.log" 2>&1; then
		echo "rootfs: mmdebstrap failed; the end of $cache/rootfs-base-$key.log:" >&2
		tail -n 20 "$cache/rootfs-base-$key.log" >&2
		rm -rf "$tmp"
		return 1
	fi
	echo "$key" >"$tmp/.dtrbd-lab-base"
	rm -rf "$out"
	mv "$tmp" "$out"
	echo "rootfs: base built in $((EPOCHSECONDS - t0)) s" >&2
	echo "$out"
}

# The lab's own files in the image (part of the image key).
_rootfs_lab_files() {
	echo "$LAB_ROOT/guest/agent.sh" "$LAB_ROOT/guest/netsetup.sh" \
		"$LAB_ROOT/guest/rootfs/lab-guest" "$LAB_ROOT/guest/rootfs/dtrbd-lab.service" \
		"$LAB_ROOT/guest/libvirt-qemu.conf"
}

# _rootfs_customize ROOT: what the lab adds to the tree after dtrbd's
# packages.  None of it configures dtrbd; it stands in for what an operator
# has on any host (network, remote access) and makes libvirt run without
# the parts a lab guest lacks.
_rootfs_customize() {
	local root=$1 lib=$1/usr/local/lib/dtrbd-lab
	mkdir -p "$lib"
	install -m 0755 "$LAB_ROOT/guest/agent.sh" "$LAB_ROOT/guest/netsetup.sh" \
		"$LAB_ROOT/guest/rootfs/lab-guest" "$lib/"
	install -m 0644 "$LAB_ROOT/guest/rootfs/dtrbd-lab.service" "$root/etc/systemd/system/"
	systemctl --root="$root" --quiet enable dtrbd-lab.service
	# The root file system (mke2fs -L below); no swap.
	echo "LABEL=dtrbd-root / ext4 rw,errors=remount-ro 0 1" >"$root/etc/fstab"
	# Timers and services that only cost CPU under TCG in a lab guest.
	systemctl --root="$root" --quiet mask apt-daily.timer apt-daily-upgrade.timer \
		e2scrub_all.timer fstrim.timer e2scrub_reap.service serial-getty@ttyS0.service \
		getty@tty1.service 2>/dev/null || true
	# libvirt as in every lab guest (guest/libvirt-setup.sh); no default
	# network (no dnsmasq).
	cat "$LAB_ROOT/guest/libvirt-qemu.conf" >>"$root/etc/libvirt/qemu.conf"
	rm -f "$root/etc/libvirt/qemu/networks/autostart/default.xml"
	# journald: keep the journal across reboots (the scenario reads the last
	# boot's, e.g. dtrbd-shutdown's words) and forward nothing to the console.
	mkdir -p "$root/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=persistent\nForwardToConsole=no\n' \
		>"$root/etc/systemd/journald.conf.d/dtrbd-lab.conf"
}

# _rootfs_install_debs ROOT DEB...: dtrbd's packages installed in the tree
# by apt, as on an operator's host ("apt install ./dtrbd-*.deb"), with
# /proc, /sys and /dev of this machine in a private mount namespace (the
# maintainer scripts run there: DKMS compiles the module here, natively).
# Every dependency must be in the base: its package lists are empty
# (mmdebstrap removes them), so a missing one fails here with apt's own
# sentence ("... but it is not installable") instead of reaching for the
# network.  (apt-get --no-download cannot take .deb files: "Pathname to
# install is not absolute".)
_rootfs_install_debs() {
	local root=$1 d
	shift
	mkdir -p "$root/tmp/dtrbd-debs"
	cp "$@" "$root/tmp/dtrbd-debs/"
	local list=()
	for d in "$@"; do list+=("/tmp/dtrbd-debs/${d##*/}"); done
	# policy-rc.d: nothing is started in the chroot (the units' postinst
	# would try); enabling them still happens.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	unshare --mount --propagation private bash -euc '
		root=$1; shift
		mount -t proc proc "$root/proc"
		mount --rbind /sys "$root/sys"
		mount --rbind /dev "$root/dev"
		mount -t tmpfs tmpfs "$root/run"
		DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q \
			--no-install-recommends "$@"
	' _ "$root" "${list[@]}"
	local rc=$?
	rm -f "$root/usr/sbin/policy-rc.d"
	rm -rf "$root/tmp/dtrbd-debs"
	return "$rc"
}

# rootfs_image DEBDIR: see the top of this file.
rootfs_image() {
	local debdir=$1 base cache key out debs=() f t0=$EPOCHSECONDS
	for f in dtrbd-dkms dtrbd-utils dtrbd-witness; do
		local m=("$debdir/${f}_"*.deb)
		[[ -f "${m[0]}" ]] || { echo "rootfs: no ${f}_*.deb in $debdir" >&2; return 1; }
		((${#m[@]} == 1)) || { echo "rootfs: more than one ${f}_*.deb in $debdir" >&2; return 1; }
		debs+=("${m[0]}")
	done
	base=$(_rootfs_base) || return 1
	cache=$(_rootfs_cache)
	# shellcheck disable=SC2046 # one file name per word
	key=$({
		echo "rootfs v1 $_ROOTFS_SIZE"
		cat "$base/.dtrbd-lab-base"
		sha256sum "${debs[@]}" $(_rootfs_lab_files) | cut -d' ' -f1
		declare -f _rootfs_customize _rootfs_install_debs
	} | sha256sum | cut -c1-16)
	out="$cache/rootfs-$key"
	if [[ ! -s "$out.img" || ! -s "$out.vmlinuz" || ! -s "$out.initrd" ]]; then
		echo "rootfs: installing ${debs[*]##*/} into a copy of the base" >&2
		local work="$cache/rootfs-work.$$"
		rm -rf "$work"
		cp -a "$base" "$work" || { rm -rf "$work"; return 1; }
		if ! _rootfs_install_debs "$work" "${debs[@]}" >"$out.log" 2>&1; then
			echo "rootfs: installing the packages failed; the end of $out.log:" >&2
			tail -n 25 "$out.log" >&2
			rm -rf "$work"
			return 1
		fi
		_rootfs_customize "$work" >>"$out.log" 2>&1 || { rm -rf "$work"; return 1; }
		local kver
		kver=$(cd "$work/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
		# DKMS must have built and installed the module for the image's
		# kernel, by the package's own postinst: nothing here does it.
		if ! ls "$work/lib/modules/$kver/updates/dkms/dtrbd.ko"* >/dev/null 2>&1; then
			echo "rootfs: dtrbd-dkms's postinst did not install dtrbd.ko for $kver; the end of $out.log:" >&2
			tail -n 25 "$out.log" >&2
			rm -rf "$work"
			return 1
		fi
		rm -f "$out.img.tmp"
		if ! mke2fs -q -F -t ext4 -L dtrbd-root -d "$work" "$out.img.tmp" "$_ROOTFS_SIZE" >>"$out.log" 2>&1; then
			echo "rootfs: mke2fs -d failed; see $out.log" >&2
			rm -rf "$work" "$out.img.tmp"
			return 1
		fi
		cp "$work/boot/vmlinuz-$kver" "$out.vmlinuz"
		cp "$work/boot/initrd.img-$kver" "$out.initrd"
		echo "$kver" >"$out.kver"
		mv "$out.img.tmp" "$out.img"
		rm -rf "$work"
		echo "rootfs: image $out.img ready in $((EPOCHSECONDS - t0)) s" >&2
		# Keep the newest three images.
		ls -t "$cache"/rootfs-*.img 2>/dev/null | grep -v base | tail -n +4 | while read -r f; do
			rm -f "${f%.img}".*
		done
	fi
	ROOTFS_IMAGE=$out.img
	ROOTFS_KERNEL=$out.vmlinuz
	ROOTFS_INITRD=$out.initrd
	ROOTFS_KVER=$(<"$out.kver")
}

# rootfs_debs: sets ROOTFS_DEBS to the directory of dtrbd's .deb files.
rootfs_debs() {
	if [[ -n "${DTRBD_LAB_DEBS:-}" ]]; then
		ROOTFS_DEBS=$DTRBD_LAB_DEBS
		return 0
	fi
	ROOTFS_DEBS=$LAB_DIR/debs
	echo "rootfs: DTRBD_LAB_DEBS is not set: building the packages with tools/packages (~3 min)" >&2
	"$LAB_ROOT/../../tools/packages" --keep "$ROOTFS_DEBS" >"$LAB_DIR/packages.log" 2>&1 ||
		{ echo "rootfs: tools/packages failed; see $LAB_DIR/packages.log" >&2; tail -n 20 "$LAB_DIR/packages.log" >&2; return 1; }
}
