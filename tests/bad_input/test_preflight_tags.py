"""The preflight's list of known tags must cover every tag site.yml uses.

playbooks/preflight.yml refuses an unknown --tags name (a typo would otherwise deploy nothing and
say nothing). Its list is written out by hand, so this test fails when a playbook or role gains a
tag the list lacks: `ansible-playbook playbooks/site.yml --list-tags` is the truth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def known_tags() -> set[str]:
    play = next(p for p in yaml.safe_load((ROOT / "playbooks/preflight.yml").read_text()) if "tasks" in p)
    listed = set(re.findall(r"'([a-z0-9_-]+)'", play["vars"]["__preflight_known_tags"]))
    platforms = {p for ps in play["vars"]["__preflight_phase_platforms"].values() for p in ps}
    return listed | platforms


def site_tags(tmp_path: Path) -> set[str]:
    # A one-host inventory without a vault: --list-tags reads no variables of the hosts.
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    preflight-tags:\n      ansible_connection: local\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    out = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(ROOT / "playbooks/site.yml"), "--list-tags"],
        cwd=ROOT, env=env, text=True, capture_output=True, check=True, timeout=300,
    ).stdout
    tags: set[str] = set()
    for line in re.findall(r"TASK TAGS: \[([^\]]*)\]", out):
        tags |= {t.strip() for t in line.split(",") if t.strip()}
    return tags


def test_preflight_knows_every_site_tag(tmp_path):
    site = site_tags(tmp_path)
    assert {"hardening", "coreldove", "phase1", "preflight"} <= site, f"unexpected --list-tags output: {site}"
    missing = site - known_tags()
    assert not missing, (
        f"site.yml uses tags that playbooks/preflight.yml (__preflight_known_tags) does not know: {sorted(missing)}; "
        "the preflight would refuse --tags with them"
    )


def test_preflight_accepts_the_tags_molecule_always_skips():
    # Molecule runs every playbook with `--skip-tags molecule-notest,notest`; refusing them broke
    # the site scenario's converge at its first task.
    skipped = {"molecule-notest", "notest"}
    assert skipped <= known_tags(), f"preflight.yml must accept Molecule's skipped tags {sorted(skipped)}"


def unknown_tags(tmp_path: Path, *args: str) -> list[str]:
    """Render the preflight's own __preflight_unknown expression under the given CLI tags."""
    play = next(p for p in yaml.safe_load((ROOT / "playbooks/preflight.yml").read_text()) if "tasks" in p)
    check = next(t for t in play["tasks"] if t["name"].startswith("Check the tags"))
    probe = [{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"__preflight_known_tags": play["vars"]["__preflight_known_tags"],
                 "__preflight_phase_platforms": play["vars"]["__preflight_phase_platforms"],
                 "__preflight_unknown": check["vars"]["__preflight_unknown"]},
        "tasks": [{"name": "unknown", "ansible.builtin.debug": {"msg": "UNKNOWN={{ __preflight_unknown | to_json }}"},
                   "tags": ["always"]}],
    }]
    (tmp_path / "probe.yml").write_text(yaml.safe_dump(probe))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    out = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "probe.yml"), *args],
        cwd=ROOT, env=env, text=True, capture_output=True, check=True, timeout=300,
    ).stdout
    return json.loads(re.search(r"UNKNOWN=(\[.*?\])", out.replace('\\"', '"')).group(1))


def test_preflight_ignores_every_molecule_skip_tag(tmp_path):
    # Molecule's idempotence step adds `molecule-idempotence-notest`; each step may add its own.
    assert unknown_tags(tmp_path, "--skip-tags", "molecule-notest,notest,molecule-idempotence-notest") == []
    assert unknown_tags(tmp_path, "--tags", "coreldove", "--skip-tags", "molecule-notest") == []


def test_preflight_names_a_mistyped_tag(tmp_path):
    assert unknown_tags(tmp_path, "--tags", "corledove") == ["corledove"]
    assert unknown_tags(tmp_path, "--tags", "coreldove", "--skip-tags", "bizoholc") == ["bizoholc"]
