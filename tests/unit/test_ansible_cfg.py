"""ansible.cfg is what Ansible actually resolves, not only what the file says.

Read through `ansible-config dump`, so a misspelt section or key (which Ansible ignores silently)
fails here. Pipelining was once set only under [ssh_connection], which the docker connection used
by Molecule, the demo and the benchmarks does not read.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def resolved() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out = subprocess.run(["ansible-config", "dump", "--only-changed"], check=True, text=True,
                         capture_output=True, env=env, cwd=ROOT).stdout
    settings = {}
    for line in out.splitlines():
        name, sep, value = line.partition(" = ")
        if sep and "(" in name:
            settings[name.split("(", 1)[0]] = value.strip()
    return settings


def test_speed_and_clarity_settings_resolve_from_the_file():
    s = resolved()
    assert s.get("ANSIBLE_PIPELINING") == "True"  # every connection plugin, docker included
    assert s.get("DEFAULT_GATHERING") == "smart"
    assert s.get("CACHE_PLUGIN") == "bizosaas.ops.private_jsonfile"  # 0700/0600, no shadow data
    assert s.get("INJECT_FACTS_AS_VARS") == "False"
    assert "ansible.posix.profile_tasks" in s.get("CALLBACKS_ENABLED", "")
    assert s.get("DEFAULT_ROLES_PATH", "").endswith("/roles']")
