"""The controller's fact cache (plugins/cache/private_jsonfile.py): 0700/0600 and no shadow data.

Runs ansible-playbook on localhost with the repository's ansible.cfg, so the plugin is loaded exactly
as in a real run (by its FQCN, from the collection beside the playbooks).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.getent:
        database: shadow
        key: root
    - ansible.builtin.set_fact:
        marker: kept
        cacheable: true
"""


def run(tmp_path: Path, cache: Path) -> subprocess.CompletedProcess:
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
           "ANSIBLE_INVENTORY": "localhost,"}
    argv = ["ansible-playbook", str(play)]
    return subprocess.run(argv, env=env, cwd=ROOT, text=True, capture_output=True, check=False)


def test_the_cache_is_private_and_never_holds_shadow_data(tmp_path):
    cache = tmp_path / "facts"
    out = run(tmp_path, cache)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.endswith("localhost")
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    facts = json.loads(files[0].read_text())
    if "__payload__" in facts:  # ansible-core >= 2.19 wraps the facts in a tagged JSON payload
        facts = json.loads(facts["__payload__"])
    # the control: the cache works (a cacheable fact of the same run is there) ...
    marker = facts.get("marker")
    assert (marker.get("value") if isinstance(marker, dict) else marker) == "kept"
    # ... and root's shadow entry, which getent did set as a fact, is not
    assert "getent_shadow" not in facts and "getent_shadow" not in facts.get("ansible_facts", {})
    assert "root:" not in files[0].read_text()


def test_an_existing_cache_directory_is_made_private(tmp_path):
    cache = tmp_path / "facts"
    cache.mkdir(mode=0o755)
    os.chmod(cache, 0o755)
    out = run(tmp_path, cache)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
