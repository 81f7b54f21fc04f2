# shellcheck shell=bash
# tests/vm/vm.sh: service VMs for lab scenarios (sourced after lib.sh and
# dtrbd.sh). See README.md, "Service VMs".
#
# Each host guest runs a real libvirtd (guest/libvirt-setup.sh) and boots
# service VMs as nested KVM domains (type='kvm': TCG's -cpu max has SVM, so
# kvm_amd works in the guest). A service VM is this machine's Debian kernel
# plus a tiny initramfs (guest/svc/svc-init) whose workload, svc-counter,
# uses the VM's first virtio disk -- the replicated device -- and prints
#   last=N        once per boot: the counter it found on the disk
#   counter=N t=S after each O_DIRECT write + fdatasync of N returned
# on its serial console, a file in the host guest's /lab (so this machine
# reads it directly, also after a power pull): RUNDIR/hI/lab/vm/NAME.serial.
#
# API:
#   vm_start_lab N [lab_start options]  dt_start with libvirtd on every host
#                                        (but those in VM_PLAIN_HOSTS)
#   vm_start_cluster [lab_start options] p1, p2 (libvirt hosts) and witness
#                                        (256 MiB, no module, no libvirt)
#   vm_libvirt_wait HOST [SECS]          wait for libvirtd's warm-up
#   vm_image                             build/cache the image; sets VM_KERNEL VM_INITRD
#   vm_xml NAME DEV                      print the domain XML
#   vm_define HOST NAME DEV              write /lab/vm/NAME.xml on HOST, virsh define
#   vm_start HOST NAME / vm_shutdown / vm_destroy / vm_undefine
#   vm_virsh HOST ARGS...                virsh -c qemu:///system on HOST
#   vm_state HOST NAME                   "running", "shut off", ... (virsh domstate)
#   vm_wait_state HOST NAME STATE SECS
#   vm_serial HOST NAME                  path (here) of its serial log
#   vm_boots HOST NAME                   boots seen on HOST (number of last= lines)
#   vm_boot_last HOST NAME               N of the latest boot's last= line
#   vm_last_counter HOST NAME            N of the latest counter= line (all boots)
#   vm_wait_counter HOST NAME MIN SECS   wait until the latest counter >= MIN
#   vm_wait_boot HOST NAME BOOTS SECS    wait for boot number BOOTS+1 and its
#                                        first counter; sets VM_LAST VM_FIRST VM_BOOT_SECS
#   vm_wait_started HOST NAME SECS       vm_wait_boot after vm_start
#   vm_libvirtd_restart HOST             stop libvirtd (its pid file) and start it again
#   VM_PROBE                             build/tests/unit/dtrbd-vmprobe (LibvirtDriver's loop)
# Knobs: DTRBD_VM_MEM (service VM MiB, 128), DTRBD_VM_HOST_MEM (host guest
# MiB, 2048), DTRBD_VM_INTERVAL_MS (pause between counter writes, 200),
# DTRBD_VM_OFFSET (byte offset of the counter record, 1 MiB), DTRBD_VM_APPEND
# (more kernel parameters for the service VM, e.g. 'loglevel=7' to see its
# boot).

VM_MEM_MIB=${DTRBD_VM_MEM:-128}
VM_HOST_MEM=${DTRBD_VM_HOST_MEM:-2048}
VM_INTERVAL_MS=${DTRBD_VM_INTERVAL_MS:-200}
VM_OFFSET=${DTRBD_VM_OFFSET:-1048576}
VM_APPEND=${DTRBD_VM_APPEND:-}
VM_PLAIN_HOSTS=${VM_PLAIN_HOSTS:-}
VM_WITNESS_MEM=${DTRBD_VM_WITNESS_MEM:-256}
VM_PROBE="$DT_TOP/build/tests/unit/dtrbd-vmprobe"
VM_KERNEL=""
VM_INITRD=""
VM_LAST=""
VM_FIRST=""
VM_BOOT_SECS=""
declare -A _VM_T0=() _VM_BOOTS0=()

# Modules the service VM loads (dependency order): its disk, and the power
# button (plus evdev to read it) so that an ACPI shutdown powers it off.
_VM_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
	virtio_blk button evdev)

# vm_image: build (once, cached under DTRBD_LAB_CACHE) the service VM's
# initramfs: static busybox, guest/svc/svc-init as /init, svc-counter built
# here with gcc -static, the modules above (uncompressed). Sets VM_KERNEL
# (this machine's kernel, the guests' too) and VM_INITRD.
vm_image() {
	local kver=${LAB_KVER:-}
	[[ -n "$kver" ]] || kver=$(_lab_pick_kver) || fail "vm_image: no guest kernel"
	local cache=${DTRBD_LAB_CACHE:-/var/cache/dtrbd-lab}
	local src=$LAB_ROOT/guest/svc m f files=() key
	for m in "${_VM_MODULES[@]}"; do
		f=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || fail "vm_image: module $m not found for $kver"
		[[ "$f" == /* ]] || continue
		files+=("$m=$f")
	done
	command -v gcc >/dev/null || fail "vm_image: gcc is needed to build svc-counter (apt-get install build-essential)"
	key=$({
		echo "svc v1 $kver ${files[*]} $(gcc -dumpfullversion)"
		sha256sum /bin/busybox "$src/svc-init" "$src/svc-counter.c" "${files[@]#*=}"
	} | sha256sum)
	VM_KERNEL=/boot/vmlinuz-$kver
	VM_INITRD="$cache/svc-$kver-${key:0:16}.cpio.gz"
	[[ -s "$VM_INITRD" ]] && return 0
	mkdir -p "$cache"
	local tmp
	tmp=$(mktemp -d "$cache/svc-build.XXXXXX")
	(
		set -e
		cd "$tmp"
		mkdir -p bin dev proc sys modules
		cp /bin/busybox bin/busybox
		gcc -static -O2 -Wall -Wextra -Werror -o bin/svc-counter "$src/svc-counter.c"
		cp "$src/svc-init" init
		chmod 0755 init
		mknod -m 0600 dev/console c 5 1
		: >modules/order
		local e
		for e in "${files[@]}"; do
			m=${e%%=*}
			f=${e#*=}
			case "$f" in
			*.ko.xz) xz -dc "$f" >"modules/$m.ko" ;;
			*.ko.zst) zstd -qdc "$f" >"modules/$m.ko" ;;
			*.ko.gz) gzip -dc "$f" >"modules/$m.ko" ;;
			*) cp "$f" "modules/$m.ko" ;;
			esac
			echo "$m" >>modules/order
		done
		find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1 >"$tmp.img"
		mv "$tmp.img" "$VM_INITRD"
	) || {
		rm -rf "$tmp" "$tmp.img"
		fail "vm_image: building the service VM image failed"
	}
	rm -rf "$tmp"
	# Older images may still be in use by a lab running from another tree
	# (the domain XML names the file): only those unused for a day go.
	find "$cache" -maxdepth 1 -name "svc-$kver-*.cpio.gz" ! -path "$VM_INITRD" -mtime +1 -delete 2>/dev/null || true
	log "vm: built the service VM image $VM_INITRD"
}

# vm_start_lab N [lab_start options]: boot N hosts with dtrbd.ko loaded and
# libvirtd running (host guests get DTRBD_VM_HOST_MEM MiB unless --mem is
# given), build the service VM image, and wait for every libvirtd.
vm_start_lab() {
	local n=$1 h
	shift
	dt_preflight
	vm_image
	# Hosts in VM_PLAIN_HOSTS (a witness) get neither the module nor libvirt.
	lab_guest_setup "case ' $VM_PLAIN_HOSTS ' in
*\" \$(hostname) \"*) echo 'plain host: no dtrbd.ko, no libvirtd' ;;
*) insmod $DT_KO; bash $LAB_ROOT/guest/libvirt-setup.sh '$(_vm_caps_dir)' '$VM_KERNEL' '$VM_INITRD' ;;
esac"
	lab_start "$n" --mem "$VM_HOST_MEM" "$@"
	for h in "${LAB_HOSTS[@]}"; do
		[[ " $VM_PLAIN_HOSTS " == *" $h "* ]] || vm_libvirt_wait "$h" 300
	done
}

# _vm_caps_dir: where this machine keeps libvirt's QEMU capabilities as a
# host guest probed them (per guest kernel; the guests see this machine's
# /var/cache through their root file system). A host guest's libvirtd
# starts from them instead of probing QEMU again (10-20 s under TCG, at
# every boot and reboot); libvirtd checks them (QEMU's and its own ctime
# and version, the kernel, the CPU) and probes anew if they do not fit.
_vm_caps_dir() { echo "${DTRBD_LAB_CACHE:-/var/cache/dtrbd-lab}/libvirt-caps-${LAB_KVER:-$(_lab_pick_kver)}"; }

# _vm_caps_keep HOST: after HOST's first libvirt connection, keep the
# capabilities it probed (copied to its /lab/libvirt-caps) when this
# machine has none yet, or when libvirtd probed anew (the kept ones did
# not fit).
_vm_caps_keep() {
	local src dst tmp
	src="$(lab_host_dir "$1")/libvirt-caps"
	dst=$(_vm_caps_dir)
	compgen -G "$src/*.xml" >/dev/null || return 0
	if compgen -G "$dst/*.xml" >/dev/null && cmp -s <(cat "$src"/*.xml) <(cat "$dst"/*.xml); then
		return 0
	fi
	tmp=$(mktemp -d "$dst.XXXX") || return 0
	cp "$src"/*.xml "$tmp"/ && rm -rf "$dst" && mv "$tmp" "$dst" && log "vm: kept libvirt's QEMU capabilities from $1 in $dst"
	rm -rf "$tmp"
}

# vm_start_cluster [lab_start options]: the layout of issue 7's example
# configuration: p1 (10.99.0.1) and p2 (10.99.0.2) are libvirt hosts with
# dtrbd.ko, witness (10.99.0.3) is a small plain guest for dtrbd-witness.
vm_start_cluster() {
	VM_PLAIN_HOSTS=witness
	vm_start_lab 3 --names p1,p2,witness --mem-of witness="$VM_WITNESS_MEM" "$@"
}

# vm_libvirt_wait HOST [SECS]: wait until libvirtd on HOST answered its
# first connection (after each boot: the setup hook runs at every boot).
vm_libvirt_wait() {
	local h=$1 secs=${2:-300} f end st
	f="$(lab_host_dir "$h")/libvirt.ready" || fail "vm_libvirt_wait: bad host $h"
	end=$((EPOCHSECONDS + secs))
	while [[ ! -s "$f" ]]; do
		((EPOCHSECONDS < end)) || {
			cat "$(lab_host_dir "$h")/setup.log" >&2 2>/dev/null || true
			fail "libvirtd on $h did not answer within ${secs}s"
		}
		_lab_running "$h" || fail "$h powered off while libvirtd was starting"
		sleep 0.5
	done
	st=$(<"$f")
	if [[ "$st" != rc=0* ]]; then
		cat "$(lab_host_dir "$h")/libvirt.version" >&2 2>/dev/null || true
		fail "libvirtd on $h: first connection failed ($st)"
	fi
	log "vm: libvirtd on $h ready (first connection ${st#*secs=}s)"
	_vm_caps_keep "$h"
}

vm_virsh() {
	local h=$1
	shift
	lab_exec "$h" virsh -q -c qemu:///system "$@"
}

# vm_xml NAME DEV: the service VM's domain XML. Its disk is DEV (the
# replicated device) with cache='none' (O_DIRECT on the device, a guest
# flush becomes a flush of DEV); its serial console appends to
# /lab/vm/NAME.serial in the host guest. Its kernel skips the AGP aperture
# search (iommu=noaperture: about 3 s of PCI config reads, each a VM exit,
# under nested TCG on the emulated AMD CPU) and the timer check.
vm_xml() {
	local name=$1 dev=$2
	[[ -n "$VM_INITRD" ]] || vm_image
	cat <<EOF
<domain type='kvm'>
  <name>$name</name>
  <memory unit='MiB'>$VM_MEM_MIB</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$VM_KERNEL</kernel>
    <initrd>$VM_INITRD</initrd>
    <cmdline>console=ttyS0 loglevel=3 panic=1 iommu=noaperture no_timer_check svc.name=$name svc.offset=$VM_OFFSET svc.interval=$VM_INTERVAL_MS${VM_APPEND:+ $VM_APPEND}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source dev='$dev'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='/lab/vm/$name.serial' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# vm_define HOST NAME DEV: write the XML to HOST's /lab/vm/NAME.xml (the
# path a dtrbdd config's domain-xml can name) and define the domain.
vm_define() {
	local h=$1 name=$2 dev=$3 d
	d="$(lab_host_dir "$h")/vm" || fail "vm_define: bad host $h"
	mkdir -p "$d"
	vm_xml "$name" "$dev" >"$d/$name.xml"
	vm_virsh "$h" define "/lab/vm/$name.xml" >/dev/null || fail "virsh define $name on $h failed"
}

# vm_start HOST NAME: virsh start (returns its exit code; the error, e.g.
# a Secondary device refusing the open, on stderr). Remembers the time and
# the boot count for vm_wait_started.
vm_start() {
	local h=$1 name=$2
	_VM_BOOTS0[$h/$name]=$(vm_boots "$h" "$name")
	_VM_T0[$h/$name]=$EPOCHREALTIME
	vm_virsh "$h" start "$name" >/dev/null
}

vm_shutdown() { vm_virsh "$1" shutdown "$2" >/dev/null; }
vm_destroy() { vm_virsh "$1" destroy "$2" >/dev/null; }
vm_undefine() { vm_virsh "$1" undefine "$2" >/dev/null; }

# vm_state HOST NAME: virsh domstate ("running", "shut off", "paused", ...).
vm_state() { vm_virsh "$1" domstate "$2"; }

# vm_wait_state HOST NAME STATE SECS
vm_wait_state() {
	local h=$1 name=$2 want=$3 secs=$4 end st=""
	end=$((EPOCHSECONDS + secs))
	while :; do
		st=$(vm_state "$h" "$name" 2>/dev/null) && [[ "$st" == "$want" ]] && return 0
		((EPOCHSECONDS < end)) || fail "$name on $h: state '$st', not '$want' after ${secs}s"
		sleep 0.5
	done
}

vm_serial() { printf '%s/vm/%s.serial\n' "$(lab_host_dir "$1")" "$2"; }

# The serial log without carriage returns; empty when there is none yet.
_vm_log() {
	local f
	f=$(vm_serial "$1" "$2")
	[[ -f "$f" ]] && tr -d '\r' <"$f"
	return 0
}

vm_boots() { _vm_log "$1" "$2" | grep -c '^last=[0-9]' || true; }

# vm_boot_last HOST NAME: the counter the latest boot found on its disk.
vm_boot_last() { _vm_log "$1" "$2" | sed -n 's/^last=\([0-9][0-9]*\)$/\1/p' | tail -n 1; }

# vm_last_counter HOST NAME: the latest acknowledged counter printed on
# HOST (a line is only counted once complete: "counter=N t=S").
vm_last_counter() {
	_vm_log "$1" "$2" | sed -n 's/^counter=\([0-9][0-9]*\) t=[0-9.]*$/\1/p' | tail -n 1
}

# vm_wait_counter HOST NAME MIN SECS: wait until the latest counter is at
# least MIN; prints it.
vm_wait_counter() {
	local h=$1 name=$2 min=$3 secs=$4 end c
	end=$((EPOCHSECONDS + secs))
	while :; do
		c=$(vm_last_counter "$h" "$name")
		[[ -n "$c" ]] && ((c >= min)) && { echo "$c"; return 0; }
		((EPOCHSECONDS < end)) || fail "$name on $h: counter ${c:-none}, not >= $min after ${secs}s"
		sleep 0.2
	done
}

# vm_wait_boot HOST NAME BOOTS SECS [T0]: wait until HOST's serial log shows
# boot number BOOTS+1 (its last= line) and that boot's first counter. Sets
# VM_LAST (what the boot found on the disk), VM_FIRST (its first counter)
# and, with T0 (an EPOCHREALTIME), VM_BOOT_SECS (T0 to the first counter,
# as seen from this machine).
vm_wait_boot() {
	local h=$1 name=$2 boots=$3 secs=$4 t0=${5:-} end out
	end=$((EPOCHSECONDS + secs))
	while :; do
		# Lines of the boots after the first BOOTS ones.
		out=$(_vm_log "$h" "$name" | awk -v b="$boots" '
			/^last=[0-9]+$/ { n++; if (n == b + 1) { split($0, a, "="); last = a[2] } }
			n > b && /^counter=[0-9]+ t=[0-9.]+$/ && first == "" { split($1, a, "="); first = a[2] }
			END { if (last != "" && first != "") print last, first }')
		if [[ -n "$out" ]]; then
			VM_LAST=${out% *}
			VM_FIRST=${out#* }
			VM_BOOT_SECS=""
			[[ -z "$t0" ]] || VM_BOOT_SECS=$(_lab_since "$t0")
			return 0
		fi
		((EPOCHSECONDS < end)) || {
			tail -n 20 "$(vm_serial "$h" "$name")" >&2 2>/dev/null || true
			fail "$name on $h: no counter from boot $((boots + 1)) within ${secs}s"
		}
		sleep 0.2
	done
}

# vm_wait_started HOST NAME SECS: vm_wait_boot for the boot vm_start began.
vm_wait_started() {
	local h=$1 name=$2
	[[ -n "${_VM_T0[$h/$name]:-}" ]] || fail "vm_wait_started: no vm_start $h $name before"
	vm_wait_boot "$h" "$name" "${_VM_BOOTS0[$h/$name]}" "$3" "${_VM_T0[$h/$name]}"
}

# vm_libvirtd_restart HOST: stop libvirtd (SIGTERM to the pid in its pid
# file), wait until it is gone, start it again and wait for its socket.
# Running domains keep running: QEMU does not depend on libvirtd.
vm_libvirtd_restart() {
	local h=$1
	lab_exec_timeout 60 "$h" '
		pid=$(cat /run/libvirtd.pid) || exit 1
		kill "$pid" || exit 1
		for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && { echo "libvirtd $pid did not exit" >&2; exit 1; }
		rm -f /run/libvirt/libvirt-sock
		libvirtd -d || exit 1
		for i in $(seq 1 300); do [ -S /run/libvirt/libvirt-sock ] && exit 0; sleep 0.1; done
		echo "libvirtd did not create its socket" >&2; exit 1' ||
		fail "restarting libvirtd on $h failed"
}
