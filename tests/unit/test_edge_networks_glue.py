"""The glue agrees on the per-platform edge overlays: docker_swarm creates them, Traefik joins them,
and each platform's stack routes over its own one (never over Dokploy's dokploy-network)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGES = ["bizosaas-bizoholic-edge", "bizosaas-coreldove-edge", "bizosaas-management-edge"]

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
                'attachable': __docker_swarm_networks | selectattr('attachable') | map(attribute='name') | list,
                'traefik_network': traefik_network, 'traefik': traefik_extra_networks,
                'container': bizosaas_traefik_container,
                'stack_edge': platform_stack_edge_network, 'stack_shared_edge': platform_stack_shared_edge_network,
                'stack_container': platform_stack_traefik_container}} | to_json }}}}
"""


def resolve(tmp_path: Path, extra: dict | None = None) -> dict:
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {}\n")
    (inv / "group_vars" / "all" / "00_shared").symlink_to(ROOT / "group_vars" / "all")
    # The roles' defaults below the glue, as Ansible ranks them (a group_vars file of the same folder
    # that sorts first stands for them; vars_files would rank above the glue).
    for role in ("docker_swarm", "platform_stack", "traefik"):
        defaults = ROOT / "roles" / role / "defaults" / "main.yml"
        (inv / "group_vars" / "all" / f"00_defaults_{role}.yml").symlink_to(defaults)
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(root=ROOT))
    (tmp_path / "extra.json").write_text(json.dumps({"platform_stack_platform": "coreldove", **(extra or {})}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(
        ["ansible-playbook", "-i", str(inv), str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'extra.json'}"],
        check=True, text=True, capture_output=True, env=env, cwd=ROOT,
    ).stdout
    # the json callback's document (ansible.cfg's profile_tasks prints around it)
    task = json.JSONDecoder().raw_decode(out[out.index("\n{") + 1 :])[0]["plays"][0]["tasks"][0]
    return json.loads(task["hosts"]["h1"]["msg"])


@pytest.mark.parametrize(
    ("extra", "edges", "container"),  # the stack is coreldove's
    [
        ({}, EDGES, "dokploy-traefik"),
        ({"bizosaas_platform_network_prefix": "acme-", "bizosaas_platform_edge_network_suffix": "-public",
          "bizosaas_dokploy_enabled": False,
          "bizosaas_platforms": {"coreldove": {"services": {}}, "shop": {"enabled": False}}},
         ["acme-coreldove-public"], "bizosaas-traefik"),
        ({"traefik_enabled": False}, EDGES, ""),  # no Traefik of ours: platform_stack does not check one
    ],
)
def test_swarm_creates_what_traefik_joins_and_the_stack_routes_over(tmp_path, extra, edges, container):
    got = resolve(tmp_path, extra)
    assert got["traefik"] == edges
    assert got["traefik_network"] == "dokploy-network" == got["stack_shared_edge"]
    assert set(edges) <= set(got["swarm"]) and set(edges) <= set(got["attachable"])
    assert got["stack_edge"] == next(e for e in edges if "-coreldove-" in e)
    assert got["container"] == got["stack_container"] == container
