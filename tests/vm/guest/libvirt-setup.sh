#!/bin/bash
# Runs in a lab host guest at every boot (lab_guest_setup, see tests/vm/vm.sh)
# and makes it a libvirt host for nested KVM service VMs:
#   - /dev/kvm from kvm_amd (TCG's -cpu max emulates an AMD CPU with SVM);
#   - qemu.conf: run QEMU as root with no security driver, no ownership
#     changes and no virtlogd (stdio_handler "file"): the guest has no
#     dbus, systemd, virtlogd or SELinux/AppArmor;
#   - no autostarted default network (it needs dnsmasq and iptables);
#   - libvirtd -d, its log in /lab/libvirtd.log, starting from the QEMU
#     capabilities in $1 (this machine's cache, see _vm_caps_dir in vm.sh)
#     when there are any; the first connection's capabilities are copied to
#     /lab/libvirt-caps for that cache;
#   - then QEMU, its libraries, its firmware and the service VM's kernel
#     and initramfs ($2, $3) are read once into the page cache: with the
#     capabilities cached libvirtd no longer runs QEMU at start, and the
#     first domain start (a failover's) would fetch them over 9p;
#   - in the background, one "virsh version": the first connection makes
#     libvirtd probe QEMU's capabilities (tens of seconds under TCG), so no
#     scenario timing includes it. It leaves /lab/libvirt.ready with
#     "rc=N secs=S" (vm_libvirt_wait in vm.sh waits for it).
# The initramfs already mounted /run, /dev/pts, /dev/shm and cgroup2, which
# libvirtd needs. Output goes to /lab/setup.log.
set -u
rm -f /lab/libvirt.ready
mkdir -p /lab/vm

if ! modprobe kvm_amd 2>/dev/null; then
	modprobe kvm_intel 2>/dev/null || echo "libvirt-setup: neither kvm_amd nor kvm_intel loads"
fi
[[ -c /dev/kvm ]] || echo "libvirt-setup: no /dev/kvm: service VMs cannot use type='kvm'"

cat "${BASH_SOURCE[0]%/*}/libvirt-qemu.conf" >>/etc/libvirt/qemu.conf
rm -f /etc/libvirt/qemu/networks/autostart/*.xml
cat >>/etc/libvirt/libvirtd.conf <<'CONF'
# tests/vm/guest/libvirt-setup.sh
log_outputs = "3:file:/lab/libvirtd.log"
CONF

caps=/var/cache/libvirt/qemu/capabilities
seed=${1:-}
if [[ -n "$seed" ]] && compgen -G "$seed/*.xml" >/dev/null; then
	mkdir -p "$caps" && cp "$seed"/*.xml "$caps"/ && echo "libvirt-setup: QEMU capabilities from $seed"
fi

libvirtd -d || { echo "libvirt-setup: libvirtd -d failed (rc $?)"; echo "rc=1 secs=0" >/lab/libvirt.ready; exit 1; }

setsid bash -c '
	t0=$EPOCHREALTIME
	for i in $(seq 1 100); do [[ -S /run/libvirt/libvirt-sock ]] && break; sleep 0.1; done
	virsh -c qemu:///system version >/lab/libvirt.version 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	rm -rf /lab/libvirt-caps
	if [[ $rc == 0 ]] && compgen -G "'"$caps"'/*.xml" >/dev/null; then
		mkdir -p /lab/libvirt-caps && cp '"$caps"'/*.xml /lab/libvirt-caps/
	fi
	q=$(command -v qemu-system-x86_64)
	cat "$q" $(ldd "$q" | awk "/=>/ {print \$3}") /usr/share/seabios/*.bin /usr/share/qemu/*.bin \
		'"${2:-}"' '"${3:-}"' >/dev/null 2>&1
	echo "rc=$rc secs=$(( (${t1/./} - ${t0/./}) / 1000000 ))" >/lab/libvirt.ready.tmp
	mv /lab/libvirt.ready.tmp /lab/libvirt.ready
' </dev/null >/lab/libvirt.warmup.log 2>&1 &
echo "libvirt-setup: libvirtd started"
