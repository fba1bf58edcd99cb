#!/usr/bin/env bash
# A minimal Debian root filesystem, the base of every service image (like the official
# debian:<suite>-slim): debootstrap --variant=minbase, apt sources with -updates and -security,
# and dpkg told to skip docs, man pages and translations in every later install.
# Called by images/kit.py, which caches the result keyed on the hash of this file and the arguments.
#
#   recipe.sh SUITE ROOTFS_DIR [MIRROR]
set -euo pipefail

suite=${1:?suite (bookworm|trixie)}
rootfs=${2:?rootfs dir}
mirror=${3:-http://deb.debian.org/debian}
security=${BIZOSAAS_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

step() { printf '    [debian:%s] %s\n' "$suite" "$*"; }

step "debootstrap --variant=minbase from $mirror"
rm -rf "$rootfs"
mkdir -p "$rootfs"
if ! debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" \
    >"$rootfs.debootstrap.log" 2>&1; then
  tail -n 20 "$rootfs.debootstrap.log" >&2
  echo "debian:$suite: debootstrap failed (see $rootfs.debootstrap.log); is the Debian mirror $mirror reachable?" >&2
  exit 1
fi

step "apt sources with -updates and -security"
cat >"$rootfs/etc/apt/sources.list" <<SRC
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
SRC

step "slim: no docs, man pages or translations (now and in later installs)"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/bizosaas-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
cat >"$rootfs/etc/apt/apt.conf.d/bizosaas-slim" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin
rm -f "$rootfs.debootstrap.log"
step "done"
