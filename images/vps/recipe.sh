#!/usr/bin/env bash
# Build a root filesystem that behaves like a fresh Debian VPS: systemd as PID 1, OpenSSH,
# python3 for Ansible, nothing else. Called by images/kit.py, which caches the result keyed on
# the hash of this file and the arguments.
#
#   recipe.sh SUITE ROOTFS_DIR [MIRROR]
#
# The result is a directory; kit.py tars it into `docker import`.
set -euo pipefail

suite=${1:?suite (bookworm|trixie)}
rootfs=${2:?rootfs dir}
mirror=${3:-http://deb.debian.org/debian}
security=${BIZOSAAS_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

step() { printf '    [vps:%s] %s\n' "$suite" "$*"; }

# What a provider's minimal Debian image has: systemd, sshd, python3, sudo, and the tools
# Ansible's modules call (python3-apt for apt, iproute2 for facts).
include=systemd,systemd-sysv,dbus,udev,openssh-server,python3,python3-apt,sudo,iproute2,
include+=ca-certificates,gnupg,curl,procps,less,kmod,iptables,cron,locales,netbase,ifupdown

step "debootstrap --variant=minbase from $mirror"
rm -rf "$rootfs"
mkdir -p "$rootfs"
if ! debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" \
    >"$rootfs.debootstrap.log" 2>&1; then
  tail -n 20 "$rootfs.debootstrap.log" >&2
  echo "vps:$suite: debootstrap failed (see $rootfs.debootstrap.log); is $mirror reachable?" >&2
  exit 1
fi

step "apt sources with -updates and -security"
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF

step "container fixes (documented in images/README.md)"
# A container has no kernel modules to load, no consoles and no hardware clock.
for unit in systemd-modules-load.service getty@tty1.service console-getty.service \
            systemd-udev-trigger.service systemd-udevd.service systemd-hwdb-update.service \
            systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount \
            systemd-firstboot.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
echo "vps" >"$rootfs/etc/hostname"
# A fresh VPS has root login by key and sshd enabled; the hardening role changes that.
mkdir -p "$rootfs/root/.ssh" && chmod 700 "$rootfs/root/.ssh"
# Generate host keys at first boot, as cloud images do, so every container has its own. Only
# when none exist (the hardening role removes the ECDSA key and it must stay removed), and
# before the unit's own `sshd -t` (so the list is reset and rebuilt in that order).
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/10-hostkeys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || /usr/bin/ssh-keygen -A'
ExecStartPre=/usr/sbin/sshd -t
EOF
# apt in the image: keep downloaded .debs out of the image, keep the index fresh enough.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
step "done"
