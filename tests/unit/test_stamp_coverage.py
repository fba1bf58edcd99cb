"""Every file a role writes is compared by its fast-path probes (vars/main.yml __<role>_stamp_probes).

A task added later that writes a file the probes do not read would be skipped by the fast path even
when that file drifts; this test names it. The comparison is textual: the task's `dest`/`path` (or
each item of a literal loop) must appear in the role's probe definition, or be listed below with the
reason it needs no probe.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = (
    "hardening",
    "docker_engine",
    "docker_swarm",
    "dokploy",
    "postgres",
    "redis",
    "temporal",
    "traefik",
    "platform_stack",
    "aide_seal",
    "backup",
)
WRITERS = {"template", "copy", "file", "lineinfile", "blockinfile", "replace", "ini_file"}
# (role, dest as written in the task): why the probes need not read it.
EXEMPT = {
    ("hardening", "/run/sshd"): "a tmpfs directory sshd needs at start; sshd's unit state is probed",
    ("hardening", "{{ item }}"): "the ECDSA/DSA host keys removed; the probe globs /etc/ssh/ssh_host_*_key",
    ("docker_engine", "/etc/apt/keyrings"): "the keyring directory of the docker.asc file that is probed",
    ("platform_stack", "{{ platform_stack_history_file }}"): "the append-only deploy history, not state",
    ("traefik", "{{ __traefik_layout.acme_storage }}"): "acme.json: its mode and owner are probed (modes)",
    ("traefik", "{{ __traefik_certs_dir }}"): "the certificate folder is globbed",
    ("traefik", "{{ __traefik_ca_dir }}"): "the CA folder is globbed",
    ("traefik", "{{ __traefik_secrets_dir }}"): "the credentials folder is globbed",
    ("traefik", "{{ __traefik_acme_ca_file }}"): "in the certificate folder, which is globbed",
    ("traefik", "{{ __traefik_acme_volume_info.volume.Mountpoint }}"):
        "the ACME volume's own folder, whose path Docker decides; the volume is probed (volumes)",
    ("traefik", "{{ __traefik_acme_volume_info.volume.Mountpoint }}/{{ __traefik_layout.acme_storage | basename }}"):
        "acme.json in the ACME volume: Traefik writes it; the volume is probed (volumes)",
}


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key))


def _writes(role: str):
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            for key, args in task.items():
                if key.split(".")[-1] in WRITERS and isinstance(args, dict):
                    dest = args.get("dest") or args.get("path")
                    if dest:
                        yield path.name, task.get("name", "?"), str(dest), task.get("loop")


def _spellings(dest: str) -> list[str]:
    """How a probe can name `dest`: as written, without braces, `x ~ '/b'` for `{{ x }}/b`, or a glob
    of its folder (`x ~ '/*'`)."""
    out = [dest, re.sub(r"\{\{\s*(.*?)\s*\}\}", r"\1", dest)]
    m = re.fullmatch(r"\{\{\s*([\w.]+)\s*\}\}(/.*)", dest)
    if m:
        out += [f"{m[1]} ~ '{m[2]}'", f"{m[1]} ~ '/*'"]
    return out


@pytest.mark.parametrize("role", ROLES)
def test_every_written_file_is_probed(role):
    probes = (ROOT / "roles" / role / "vars" / "main.yml").read_text()
    assert f"__{role}_stamp_probes" in probes, f"{role}: vars/main.yml defines no __{role}_stamp_probes"
    missing = []
    for fname, name, dest, loop in _writes(role):
        if (role, dest) in EXEMPT:
            continue
        literal_loop = dest == "{{ item }}" and isinstance(loop, list)
        candidates = [str(i) for i in loop] if literal_loop else [dest]
        for cand in candidates:
            if not any(form in probes for form in _spellings(cand)):
                missing.append(f"{fname}: {name}: {cand}")
    assert not missing, f"{role}: written but not probed (add to __{role}_stamp_probes or EXEMPT):\n" + "\n".join(
        missing
    )


def test_exemptions_are_still_real():
    """An exemption for a task that no longer exists is removed, so the list stays true."""
    written = {(role, dest) for role in ROLES for _f, _n, dest, _l in _writes(role)}
    assert not set(EXEMPT) - written, sorted(set(EXEMPT) - written)
    for role, dest in EXEMPT:  # and an exemption the probes now cover is removed too
        probes = (ROOT / "roles" / role / "vars" / "main.yml").read_text()
        assert dest == "{{ item }}" or not any(f in probes for f in _spellings(dest)[2:]), (role, dest)
