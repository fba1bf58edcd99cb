"""Behaviour of a hardened VPS, seen from outside (a real SSH client, ssh-audit) and inside (Lynis).

Runs from Molecule's testinfra verifier (one `host` per platform). The controller reaches each
container on the test network by its IP; the throwaway admin key was made in prepare.yml.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

ADMIN = "opsadmin"
SSH_PORT = 22
LYNIS_MIN = 80
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))
KEY = EPHEMERAL / "admin_ed25519"
VENV_BIN = Path(sys.executable).parent


def _ip(host) -> str:
    name = host.backend.get_hostname()
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _ssh(ip: str, user: str, *extra: str, command: str = "id -un") -> subprocess.CompletedProcess:
    argv = [
        "ssh",
        "-p",
        str(SSH_PORT),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=20",
        "-o",
        "LogLevel=ERROR",
        *extra,
        f"{user}@{ip}",
        command,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)


def _report(name: str, line: str) -> None:
    print(f"\n[hardening] {name}: {line}")
    with (EPHEMERAL / "figures.txt").open("a") as fh:
        fh.write(f"{name}: {line}\n")


def test_admin_logs_in_with_its_key_and_can_sudo(host):
    res = _ssh(_ip(host), ADMIN, "-i", str(KEY), "-o", "IdentitiesOnly=yes", command="id -un && sudo -n id -u")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [ADMIN, "0"]


def test_password_login_is_refused(host):
    # The admin has a password (converge.yml sets one), yet sshd offers only publickey.
    res = _ssh(_ip(host), ADMIN, "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no")
    assert res.returncode == 255
    assert "Permission denied (publickey)" in res.stderr


def test_root_login_is_refused_even_with_a_valid_key(host):
    # prepare.yml authorized the same throwaway key for root.
    assert host.file("/root/.ssh/authorized_keys").contains("molecule-hardening")
    res = _ssh(_ip(host), "root", "-i", str(KEY), "-o", "IdentitiesOnly=yes")
    assert res.returncode == 255
    assert "Permission denied" in res.stderr


def test_admin_password_hash_is_sha512_and_verifies(host):
    from passlib.hash import sha512_crypt

    with host.sudo():
        entry = host.check_output(f"getent shadow {ADMIN}")
    pw_hash = entry.split(":")[1]
    assert pw_hash.startswith("$6$")
    assert sha512_crypt.verify("molecule-Throwaway-pw-42", pw_hash)


def test_ssh_audit_reports_no_fail_and_no_warn(host):
    ip = _ip(host)
    audit = shutil.which("ssh-audit", path=str(VENV_BIN)) or "ssh-audit"
    res = subprocess.run(
        [audit, "-j", "-p", str(SSH_PORT), ip], capture_output=True, text=True, timeout=120, check=False
    )
    data = json.loads(res.stdout)
    fails, warns = [], []
    for section in ("kex", "key", "enc", "mac"):
        for alg in data.get(section, []):
            notes = alg.get("notes", {})
            fails += [f"{section}:{alg['algorithm']}: {n}" for n in notes.get("fail", [])]
            warns += [f"{section}:{alg['algorithm']}: {n}" for n in notes.get("warn", [])]
    fails += [f"cve: {c.get('name')}" for c in data.get("cves", [])]
    kex = [a["algorithm"] for a in data.get("kex", [])]
    keys = [a["algorithm"] for a in data.get("key", [])]
    ver = f"ssh-audit {metadata.version('ssh-audit')}"
    _report(
        host.backend.get_hostname(),
        f"{ver}: {len(fails)} fail, {len(warns)} warn; banner {data.get('banner', {}).get('software')}; "
        f"kex {','.join(kex)}",
    )
    assert not any("ecdsa" in k for k in keys), keys
    assert any(k.startswith(("mlkem768x25519", "sntrup761x25519")) for k in kex), kex
    assert (fails, warns) == ([], [])


def test_firewall_drops_unlisted_ports_and_keeps_http_open(host):
    ip = _ip(host)
    with host.sudo():
        host.run("systemd-run --unit=hx-probe-8081 --collect python3 -m http.server 8081")
        host.run("systemd-run --unit=hx-probe-80 --collect python3 -m http.server 80")
    try:
        time.sleep(2)
        # Listening inside, but not in the allow list: the SYN is dropped (timeout), not refused.
        with pytest.raises(TimeoutError):
            socket.create_connection((ip, 8081), timeout=3)
        # In the allow list: the connection completes.
        socket.create_connection((ip, 80), timeout=10).close()
    finally:
        with host.sudo():
            host.run("systemctl stop hx-probe-8081 hx-probe-80")


def test_firewall_is_own_table_and_survives_a_reload(host):
    with host.sudo():
        # A foreign table (as Docker's iptables-nft creates) must survive a firewall reload.
        host.check_output("nft add table ip hx_foreign")
        host.check_output("systemctl reload nftables")
        tables = host.check_output("nft list tables")
        host.check_output("nft delete table ip hx_foreign")
    assert "table inet bizosaas_host" in tables
    assert "table ip hx_foreign" in tables
    active = [
        ln for ln in host.file("/etc/nftables.conf").content_string.splitlines() if not ln.lstrip().startswith("#")
    ]
    assert not any("flush" in ln for ln in active), active


def test_fail2ban_sshd_jail_is_active(host):
    with host.sudo():
        out = host.check_output("fail2ban-client status sshd")
        backend = host.check_output("fail2ban-client get sshd journalmatch")
    assert "Currently banned" in out
    assert "sshd" in backend or "ssh" in backend


def test_unattended_upgrades_allows_only_security(host):
    with host.sudo():
        out = host.run("unattended-upgrade --dry-run --debug 2>&1 | grep -m1 'Allowed origins'").stdout
    assert "security" in out.lower(), out
    origins = out.split("Allowed origins are:", 1)[1].strip().split(", ")
    assert origins and all("security" in o.lower() for o in origins), origins


def test_sudoers_and_core_dumps_and_journald(host):
    assert host.file("/etc/sudoers.d/90-bizosaas-admin").mode == 0o440
    with host.sudo():
        assert host.run("visudo -c").rc == 0
    # A login shell of the admin: no core dumps, umask 027, an idle timeout.
    with host.sudo():
        login = host.check_output(f"su - {ADMIN} -c 'ulimit -c; umask; echo $TMOUT'").split()
    assert login == ["0", "0027", "900"]
    assert "SystemMaxUse=500M" in host.check_output("systemd-analyze cat-config systemd/journald.conf")


def test_lynis_hardening_index_is_at_least_80(host):
    """Debian's lynis is installed here as a measuring tool only (it is not part of the role)."""
    with host.sudo():
        host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lynis")
        host.run("lynis audit system --quick --no-colors > /tmp/lynis.out 2>&1")
        report = host.check_output("cat /var/log/lynis-report.dat")
    values = {}
    for line in report.splitlines():
        key, _, value = line.partition("=")
        if key in {"hardening_index", "lynis_version", "lynis_tests_done"}:
            values[key] = value
    index = int(values["hardening_index"])
    _report(
        host.backend.get_hostname(),
        f"Lynis {values['lynis_version']}: hardening index {index} ({values['lynis_tests_done']} tests)",
    )
    assert index >= LYNIS_MIN


def test_rate_limit_drops_bursts_of_new_ssh_connections(host):
    """Last test: it exhausts the per-source SSH budget for a minute."""
    ip = _ip(host)
    opened, dropped = 0, 0
    for _ in range(40):
        try:
            socket.create_connection((ip, SSH_PORT), timeout=2).close()
            opened += 1
        except OSError:
            dropped += 1
    _report(host.backend.get_hostname(), f"SSH rate limit: {opened} opened, {dropped} dropped of 40 rapid connections")
    assert dropped > 0 and opened >= 1
