#!/usr/bin/env bash
# Idempotent set-up of a fresh machine for `make test` and `make demo`.
#   bootstrap.sh [venv|host|all]
# Each stage prints one line saying what it did or that it was already done.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
stage=${1:-all}
say() { printf '==> %-10s %s\n' "$1" "$2"; }

# apt-get install, quietly, with one index refresh per run.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z ${__apt_updated:-} ]]; then
    apt-get update -qq || { echo "apt-get update failed: is the Debian mirror reachable?" >&2; exit 1; }
    __apt_updated=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

do_venv() {
  local want have
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  have=$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)
  if [[ "$want" == "$have" && -x "$VENV/bin/ansible-playbook" ]]; then
    say venv "current ($VENV matches requirements.txt)"
    return
  fi
  say venv "installing requirements.txt into $VENV"
  if [[ ! -x "$VENV/bin/python" ]]; then
    # Debian's python3 ships venv without ensurepip until python3-venv is installed.
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
      say venv "apt-get install python3-venv (python3 has no ensurepip)"
      apt_install python3-venv
    fi
    python3 -m venv "$VENV"
  fi
  # This machine's pip config lists local indexes that may be empty; hide only those warnings.
  "$VENV/bin/pip" install --quiet -r requirements.txt 2>&1 | grep -v 'is ignored: it is neither' || true
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "pip install -r requirements.txt failed" >&2; exit 1; }
  echo "$want" >"$VENV/.requirements.sha256"
  say venv "installed ($("$VENV/bin/ansible" --version | head -n1))"
}

# A dockerd that was killed (or moved to another data-root) leaves its bridges' MASQUERADE rules
# behind. With br_netfilter on, a stale `-s <subnet> ! -o br-<gone>` rule also matches traffic
# between two containers on the live bridge of the same subnet and rewrites its source to the
# gateway: TCP survives, but the VXLAN driver drops the overlay packets, and swarm_multi's
# cross-node request times out. Drop only rules naming a br-<id> with no interface and no network.
# No pipeline here: under `set -euo pipefail` a grep that finds nothing (the normal case on a fresh
# machine, with no user-defined network) would end the whole script with no message.
drop_stale_nat() {
  local rules rule br networks
  rules=$(iptables -t nat -S POSTROUTING 2>/dev/null || true)
  networks=$(docker network ls -q --no-trunc 2>/dev/null || true)
  while read -r rule; do
    [[ $rule =~ ^-A\ POSTROUTING\ -s\ [0-9./]+\ !\ -o\ (br-[0-9a-f]{12})\ -j\ MASQUERADE$ ]] || continue
    br=${BASH_REMATCH[1]}
    [[ -e /sys/class/net/$br ]] && continue
    [[ $networks == *"${br#br-}"* ]] && continue
    say iptables "removing a stale Docker NAT rule for the missing bridge $br"
    # shellcheck disable=SC2086  # the rule is split into iptables arguments on purpose
    iptables -t nat ${rule/#-A/-D}
  done <<<"$rules"
  return 0
}

do_host() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v ss >/dev/null || missing+=(iproute2)
  command -v dpkg-deb >/dev/null || missing+=(dpkg)
  if ((${#missing[@]})); then
    say host "apt-get install ${missing[*]}"
    apt_install "${missing[@]}"
  else
    say host "docker.io, debootstrap, ssh and iproute2 present"
  fi
  if docker info >/dev/null 2>&1; then
    say dockerd "running ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
    drop_stale_nat
    return
  fi
  if [[ "$(cat /proc/1/comm 2>/dev/null)" == systemd ]]; then
    say dockerd "systemctl start docker"
    systemctl start docker
  else
    say dockerd "starting dockerd (PID 1 is not systemd; log in /var/log/bizosaas-dockerd.log)"
    nohup dockerd >>/var/log/bizosaas-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { say dockerd "up ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"; drop_stale_nat; return; }
    sleep 0.5
  done
  echo "dockerd did not start; see /var/log/bizosaas-dockerd.log" >&2
  tail -n 20 /var/log/bizosaas-dockerd.log >&2 || true
  exit 1
}

case "$stage" in
  venv) do_venv ;;
  host) do_host ;;
  all) do_venv; do_host ;;
  *) echo "usage: $0 [venv|host|all]" >&2; exit 2 ;;
esac
