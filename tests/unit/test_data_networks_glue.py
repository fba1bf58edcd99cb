"""The glue attaches Postgres and Redis to the data network and to every enabled platform's private
overlay, each of which the docker_swarm role creates, and to no edge network (Traefik's side)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """
- hosts: h1
  connection: local
  gather_facts: false
  vars_files:
    - {root}/roles/docker_swarm/vars/main.yml
  tasks:
    - name: Print what each role resolves
      ansible.builtin.debug:
        msg: >-
          {{{{ {{'swarm': __docker_swarm_networks | map(attribute='name') | list,
                'postgres': postgres_networks, 'redis': redis_networks,
                'schema': postgres_readonly_schema,
                'redis_users': redis_users | map(attribute='unsafe_commands') | list}} | to_json }}}}
"""


def resolve(tmp_path: Path, extra: dict | None = None) -> dict:
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {}\n")
    (inv / "group_vars" / "all" / "00_shared").symlink_to(ROOT / "group_vars" / "all")
    for role in ("docker_swarm", "postgres", "redis"):
        defaults = ROOT / "roles" / role / "defaults" / "main.yml"
        (inv / "group_vars" / "all" / f"00_defaults_{role}.yml").symlink_to(defaults)
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(root=ROOT))
    (tmp_path / "extra.json").write_text(json.dumps(extra or {}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(
        ["ansible-playbook", "-i", str(inv), str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'extra.json'}"],
        check=True, text=True, capture_output=True, env=env, cwd=ROOT,
    ).stdout
    task = json.JSONDecoder().raw_decode(out[out.index("\n{") + 1 :])[0]["plays"][0]["tasks"][0]
    return json.loads(task["hosts"]["h1"]["msg"])


PLATFORMS = {
    "bizoholic": {"enabled": True, "redis_prefix": "bizoholic:", "services": {}},
    "coreldove": {"enabled": True, "redis_prefix": "coreldove:", "services": {}, "redis_unsafe_commands": ["scan"]},
    "management": {"enabled": False, "redis_prefix": "management:", "services": {}},
}


@pytest.mark.parametrize(
    ("extra", "want"),
    [
        ({}, ["bizosaas-network", "bizosaas-bizoholic", "bizosaas-coreldove", "bizosaas-management"]),
        ({"bizosaas_platforms": PLATFORMS}, ["bizosaas-network", "bizosaas-bizoholic", "bizosaas-coreldove"]),
    ],
    ids=["seed", "management-disabled"],
)
def test_data_services_join_the_data_network_and_each_private_overlay(tmp_path, extra, want):
    got = resolve(tmp_path, extra)
    assert got["postgres"] == got["redis"] == want
    assert set(want) <= set(got["swarm"]), "a data-service network the docker_swarm role does not create"
    assert not [n for n in got["postgres"] if n.endswith("-edge") or n == "dokploy-network"]
    assert got["schema"] == "analytics"


def test_a_platform_opts_into_unsafe_redis_commands(tmp_path):
    got = resolve(tmp_path, {"bizosaas_platforms": PLATFORMS})
    assert got["redis_users"] == [[], ["scan"]]
