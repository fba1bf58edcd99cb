"""Secrets never reach Ansible's output: the traefik role's tasks that carry a private key, a DNS-01
API token or a basic-auth password are run with -v --diff against a throwaway VPS (the bad-input
suite's), twice (the second run rotates every secret, so the tasks that write them report a change
and --diff would show the new content), and the output must not contain any of them.

The test can fail: it checks first that the tasks carrying the secrets ran and changed something
(a skipped task would prove nothing), and Ansible prints a loop's items in full with -v, whatever
loop_control.label says, so a task that loops over a dict holding a secret, or a slurp of a file
holding one, without no_log shows up here.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.harness import vps

ROOT = Path(__file__).resolve().parents[2]
HOST = "byo.secrets.test"

PLAYBOOK = """\
- name: The traefik role's validation and configuration, the tasks that handle its secrets
  hosts: all
  gather_facts: false
  tasks:
    - name: Validate the inputs (loops over the dashboards and the certificate groups)
      ansible.builtin.include_role:
        name: traefik
        tasks_from: validate
    - name: Write the certificates, credentials and configuration
      ansible.builtin.include_role:
        name: traefik
        tasks_from: configure
"""


def _pair() -> tuple[str, str]:
    """A self-signed certificate for HOST and its private key, as a user would bring them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _secrets_of(key_pem: str, token: str, password: str) -> list[str]:
    # Every base64 line of the key (a diff or a printed item would carry them), the token, the password.
    lines = [line for line in key_pem.splitlines() if line and not line.startswith("-----")]
    return [*lines, token, password]


def _run(inventory: Path, tmp: Path, tag: str) -> tuple[str, list[str]]:
    cert, key = _pair()
    token = f"dns-token-{secrets.token_hex(12)}"
    password = f"dash-pw-{secrets.token_hex(12)}"
    extra = {
        "traefik_acme_email": "ops@secrets.test",
        "traefik_dashboard_hosts": ["dash.secrets.test"],
        "traefik_dashboard_users": [{"name": "admin", "password": password}],
        "traefik_certificates": [
            {"name": "byo", "mode": "files", "domains": [HOST], "cert": cert, "key": key},
            {"name": "wild", "mode": "acme", "challenge": "dns", "dns_provider": "cloudflare",
             "dns_credentials": {"CF_DNS_API_TOKEN": token}, "domains": ["*.wild.secrets.test"]},
        ],
    }
    (tmp / f"vars-{tag}.json").write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        ["ansible-playbook", "-v", "--diff", "-i", str(inventory), str(tmp / "play.yml"),
         "-e", f"@{tmp / f'vars-{tag}.json'}"],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"run {tag} failed:\n" + "\n".join(out.splitlines()[-40:])
    return out, _secrets_of(key, token, password)


def _changed(out: str, task: str) -> bool:
    """Whether the task ran and reported a change (its header, then a changed: line before the next task)."""
    header = rf"TASK \[[^\]]*{re.escape(task)}[^\]]*\][^\n]*\n"
    m = re.search(header + r"(.*?)(?=\nTASK \[|\nRUNNING HANDLER|\nPLAY RECAP)", out, re.S)
    return bool(m) and "changed:" in m.group(1)


@pytest.mark.vps
def test_no_key_token_or_password_in_verbose_output(tmp_path):
    prefix = os.environ.get("BIZOSAAS_BADINPUT_PREFIX", "badinput")
    with vps.running(f"{prefix}-secrets-output") as host:
        (tmp_path / "inv").mkdir()
        host.inventory(tmp_path / "inv" / "hosts.yml")
        (tmp_path / "play.yml").write_text(PLAYBOOK)
        for tag in ("first", "rotated"):
            out, leaks = _run(tmp_path / "inv", tmp_path, tag)
            for task in ("Write the bring-your-own private keys", "Write the DNS-01 provider credentials",
                         "Write the dynamic configuration"):
                assert _changed(out, task), f"run {tag}: the task {task!r} did not run and change; nothing is proven"
            assert "Check every basic-auth user has a name and a password" in out
            found = [s for s in leaks if s in out]
            where = [line[:160] for line in out.splitlines() if any(s in line for s in found)]
            assert not found, f"run {tag}: secrets in the -v --diff output:\n" + "\n".join(where[:10])
            # A slurp printed with -v carries a whole file (acme.json, the htpasswd hashes) in base64.
            assert '"encoding": "base64"' not in out, f"run {tag}: a slurped file was printed"
