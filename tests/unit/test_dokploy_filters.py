"""Unit tests for the dokploy role's filters (collections/.../plugins/filter/dokploy.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter.dokploy import (
    FilterModule,
    dokploy_listeners,
    dokploy_port_conflicts,
    dokploy_version,
)

SS = """\
LISTEN 0      4096         0.0.0.0:3000       0.0.0.0:*    users:(("docker-proxy",pid=812,fd=4))
LISTEN 0      4096            [::]:3000          [::]:*    users:(("docker-proxy",pid=818,fd=4))
LISTEN 0      511          0.0.0.0:80         0.0.0.0:*    users:(("nginx",pid=101,fd=6),("nginx",pid=100,fd=6))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=77,fd=3))
LISTEN 0      4096       127.0.0.1:443        0.0.0.0:*    users:(("traefik",pid=900,fd=7))
"""

TASK_ID = "a" * 64
OTHER_ID = "b" * 64


def container(name: str, cid: str, *ports: int) -> dict:
    return {
        "Id": cid,
        "Names": [f"/{name}"],
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "tcp"} for p in ports],
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0.25.11", "0.25.11"), ("v0.25.11", "0.25.11"), ("1.0.0-rc.1", "1.0.0-rc.1"), (" 0.1.0 ", "0.1.0")],
)
def test_version_accepts_pinned_versions(given, expected):
    assert dokploy_version(given) == expected


@pytest.mark.parametrize("bad", ["latest", "canary", "0.25", "0.25.x", "01.2.3", "0.25.11; rm -rf /", "", "v", 0.25])
def test_version_rejects_malformed_and_names_the_variable(bad):
    with pytest.raises(AnsibleFilterError, match="dokploy_version"):
        dokploy_version(bad)


def test_listeners_parse_every_process():
    rows = dokploy_listeners(SS)
    assert {"port": 80, "address": "0.0.0.0", "process": "nginx", "pid": 101} in rows
    assert {"port": 80, "address": "0.0.0.0", "process": "nginx", "pid": 100} in rows
    assert {"port": 3000, "address": "[::]", "process": "docker-proxy", "pid": 818} in rows
    assert dokploy_listeners("") == []


def test_free_ports_have_no_conflict():
    assert dokploy_port_conflicts("", [80, 443, 3000], []) == []


def test_foreign_process_is_named_with_its_pid():
    problems = dokploy_port_conflicts(SS, [80], [])
    assert problems == [
        "port 80 is held by nginx (pid 101) on 0.0.0.0",
        "port 80 is held by nginx (pid 100) on 0.0.0.0",
    ]


def test_our_dokploy_task_behind_docker_proxy_is_not_a_conflict():
    task = container("dokploy.1.k2x7q9w3e5r7t9y1u3i5o7p9a", TASK_ID, 3000)
    assert dokploy_port_conflicts(SS, [3000], [task]) == []


def test_foreign_container_behind_docker_proxy_is_named():
    problems = dokploy_port_conflicts(SS, [3000], [container("grafana", OTHER_ID, 3000)])
    assert problems[0] == "port 3000 is held by docker-proxy (pid 812) for container grafana"


def test_docker_proxy_with_no_known_container_is_a_conflict():
    assert "a container this role does not manage" in dokploy_port_conflicts(SS, [3000], [])[0]


def test_process_inside_our_traefik_container_is_ours():
    traefik = container("dokploy-traefik", TASK_ID)
    cgroups = {900: f"0::/system.slice/docker-{TASK_ID}.scope\n"}
    assert dokploy_port_conflicts(SS, [443], [traefik], cgroups) == []


def test_process_inside_another_container_names_the_container():
    other = container("caddy", OTHER_ID)
    problems = dokploy_port_conflicts(SS, [443], [other], {"900": f"12:pids:/docker/{OTHER_ID}\n"})
    assert problems == ["port 443 is held by traefik (pid 900) in container caddy on 127.0.0.1"]


def test_port_published_without_a_listener_is_reported():
    # userland-proxy off: iptables only, nothing in ss
    assert dokploy_port_conflicts("", [80], [container("web", OTHER_ID, 80)]) == [
        "port 80 is published by container web"
    ]


def test_ports_must_be_integers():
    with pytest.raises(AnsibleFilterError, match="integers"):
        dokploy_port_conflicts("", ["http"], [])


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"dokploy_version", "dokploy_listeners", "dokploy_port_conflicts",
                                             "dokploy_webhook_line"}


def test_dockerd_holding_a_port_of_our_ingress_service_is_ours():
    ss = 'LISTEN 0 4096 *:3000 *:* users:(("dockerd",pid=50,fd=9))\n'
    assert dokploy_port_conflicts(ss, [3000], [], swarm_ports=[3000]) == []
    assert dokploy_port_conflicts(ss, [3000], []) == ["port 3000 is held by dockerd (pid 50) on *"]


def test_webhook_line_prefers_the_public_origin():
    from ansible_collections.bizosaas.ops.plugins.filter.dokploy import dokploy_webhook_line
    hook = {"project": "coreldove-platform", "compose": "coreldove", "stack_name": "coreldove",
            "path": "/api/deploy/compose/tok", "url": "http://127.0.0.1:3000/api/deploy/compose/tok"}
    assert dokploy_webhook_line(hook, "https://dokploy.example.com/") == (
        "coreldove-platform/coreldove (stack coreldove): POST https://dokploy.example.com/api/deploy/compose/tok")
    assert dokploy_webhook_line(hook).endswith("POST http://127.0.0.1:3000/api/deploy/compose/tok")
