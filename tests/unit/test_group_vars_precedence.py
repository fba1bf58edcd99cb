"""The top-level group_vars/all/ is loaded for every inventory, and an inventory overrides it.

Each inventory links the shared folder as group_vars/all/00_shared; Ansible reads a group_vars
folder in sorted order and later files win, so the shared defaults load first and the
inventory's own files (vars.yml, vault.yml) override them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = sorted(p.name for p in (ROOT / "inventories").iterdir() if (p / "hosts.yml").exists())


def vault_args(inventory: Path) -> list[str]:
    """The demo generates an encrypted vault (and its password file) in inventories/local."""
    pw = inventory / ".vault-pass"
    return ["--vault-password-file", str(pw)] if pw.exists() else []


def host_vars(inventory: Path, host: str) -> dict:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    out = subprocess.run(
        ["ansible-inventory", "-i", str(inventory), *vault_args(inventory), "--host", host],
        check=True, text=True, capture_output=True, env=env, cwd=ROOT,
    ).stdout
    return json.loads(out)


def first_host(inventory: Path) -> str:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    out = subprocess.run(["ansible-inventory", "-i", str(inventory), *vault_args(inventory), "--list"],
                         check=True, text=True,
                         capture_output=True, env=env, cwd=ROOT).stdout
    return sorted(json.loads(out)["_meta"]["hostvars"])[0]


@pytest.mark.parametrize("name", INVENTORIES)
def test_every_inventory_links_the_shared_defaults(name):
    link = ROOT / "inventories" / name / "group_vars" / "all" / "00_shared"
    assert link.is_symlink(), f"{link} must be a symlink to the top-level group_vars/all"
    assert link.resolve() == (ROOT / "group_vars" / "all").resolve()
    inv = ROOT / "inventories" / name
    hv = host_vars(inv, first_host(inv))
    assert "bizosaas_platforms" in hv, "shared group_vars/all/platforms.yml was not loaded"


def test_inventory_overrides_shared_default(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {}\n")
    (inv / "group_vars" / "all" / "00_shared").symlink_to(ROOT / "group_vars" / "all")
    hv = host_vars(inv, "h1")
    assert hv["bizosaas_domain"] == "example.com", "the shared default should apply when not overridden"
    (inv / "group_vars" / "all" / "vars.yml").write_text("bizosaas_domain: override.test\n")
    hv = host_vars(inv, "h1")
    assert hv["bizosaas_domain"] == "override.test", "the inventory's own group_vars must win"
    # ... and every other shared default is still there
    assert hv["bizosaas_data_network"] == "bizosaas-network"


def test_group_specific_inventory_vars_win_too(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "group_vars" / "web").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  children:\n    web:\n      hosts:\n        h1: {}\n")
    (inv / "group_vars" / "all" / "00_shared").symlink_to(ROOT / "group_vars" / "all")
    (inv / "group_vars" / "web" / "vars.yml").write_text("bizosaas_registry: mirror.test:5000\n")
    assert host_vars(inv, "h1")["bizosaas_registry"] == "mirror.test:5000"


def test_ansible_playbook_sees_the_same_precedence(tmp_path):
    """The operator's path: ansible-playbook from the repository root with a playbook in a folder
    that has no group_vars of its own (like playbooks/)."""
    assert not (ROOT / "playbooks" / "group_vars").exists(), "playbooks/group_vars would load above the inventory"
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_connection: local}\n")
    (inv / "group_vars" / "all" / "00_shared").symlink_to(ROOT / "group_vars" / "all")
    (inv / "group_vars" / "all" / "vars.yml").write_text("bizosaas_domain: override.test\n")
    play = tmp_path / "pb" / "show.yml"
    play.parent.mkdir()
    play.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: 'RESULT={{ bizosaas_domain }}/{{ bizosaas_data_network }}'\n"
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    out = subprocess.run(["ansible-playbook", "-i", str(inv), str(play)], text=True, capture_output=True,
                         env=env, cwd=ROOT, check=True).stdout
    assert "RESULT=override.test/bizosaas-network" in out
