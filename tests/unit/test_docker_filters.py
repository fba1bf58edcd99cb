"""Unit tests for the docker filters (bizosaas.ops docker.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter import docker as f

ROUTES = [
    {"dst": "default", "gateway": "172.28.0.1", "dev": "eth0"},
    {"dst": "172.28.0.0/16", "dev": "eth0", "prefsrc": "172.28.0.2"},
    {"dst": "172.20.0.0/24", "dev": "docker0"},
    {"dst": "10.210.1.0/24", "dev": "br-0123456789ab"},
]
ADDRS = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}]},
    {
        "ifname": "eth0",
        "addr_info": [
            {"family": "inet", "local": "172.28.0.2", "prefixlen": 16},
            {"family": "inet6", "local": "fe80::1", "prefixlen": 64},
        ],
    },
    {"ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24}]},
]


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        ([{"base": "172.20.0.0/16", "size": 24}], []),  # docker0's own route is ignored
        ([{"base": "172.28.0.0/16", "size": 24}], ["route 172.28.0.0/16 dev eth0", "address 172.28.0.2/16 on eth0"]),
        ([{"base": "172.16.0.0/12", "size": 24}], ["route 172.28.0.0/16 dev eth0"]),
        ([{"base": "10.0.0.0/8", "size": 24}], ["address 10.0.0.5/24 on eth1"]),
        ([{"base": "192.168.0.0/16", "size": 20}], []),
    ],
)
def test_pool_conflicts(pools, expected):
    got = f.docker_pool_conflicts(pools, ROUTES, ADDRS, name="docker_engine_address_pools")
    for what in expected:
        assert any(what in g for g in got), (what, got)
    assert bool(got) == bool(expected)
    assert all(g.startswith("docker_engine_address_pools:") for g in got)


def test_pool_conflicts_default_route_and_pools_overlapping_each_other():
    assert f.docker_pool_conflicts([{"base": "10.9.0.0/16", "size": 24}], [{"dst": "default", "dev": "eth0"}]) == []
    got = f.docker_pool_conflicts([{"base": "10.9.0.0/16", "size": 24}, {"base": "10.9.1.0/24", "size": 24}], [])
    assert got and "overlap each other" in got[0]


@pytest.mark.parametrize(
    "pools",
    [
        "10.0.0.0/8",
        [{"base": "10.0.0.0/8"}],
        [{"base": "10.0.0.1/8", "size": 24}],  # host bits set
        [{"base": "nonsense", "size": 24}],
        [{"base": "10.0.0.0/16", "size": 8}],  # size smaller than the base
        [{"base": "10.0.0.0/16", "size": "x"}],
    ],
)
def test_pool_malformed_names_the_variable(pools):
    with pytest.raises(AnsibleFilterError, match="docker_engine_address_pools"):
        f.docker_pool_conflicts(pools, [], [], name="docker_engine_address_pools")


def test_cidr_conflicts():
    assert f.docker_cidr_conflicts(["10.210.0.0/16"], [{"base": "172.20.0.0/16", "size": 24}]) == []
    got = f.docker_cidr_conflicts(["10.0.0.0/8"], [{"base": "10.20.0.0/16", "size": 24}], "a", "b")
    assert got == ["a: 10.0.0.0/8 overlaps b 10.20.0.0/16"]


def test_first_private_address_skips_docker_interfaces():
    assert f.docker_first_private_address(ADDRS) == "172.28.0.2"
    public = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "203.0.113.10", "prefixlen": 24}]}]
    assert f.docker_first_private_address(public) == ""
    assert f.docker_first_private_address(public + ADDRS[3:]) == "10.0.0.5"


def test_host_addresses_lists_addresses_and_interfaces():
    got = f.docker_host_addresses(ADDRS)
    assert {"eth0", "172.28.0.2", "10.0.0.5", "fe80::1"} <= set(got)


OVERLAY = {
    "Name": "bizosaas-network",
    "Driver": "overlay",
    "Scope": "swarm",
    "Attachable": True,
    "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4097"},
    "IPAM": {"Config": [{"Subnet": "10.210.1.0/24", "Gateway": "10.210.1.1"}]},
}


def spec(**kw):
    return {"name": "bizosaas-network", "driver": "overlay", "attachable": True, "encrypted": False, "subnet": "", **kw}


@pytest.mark.parametrize(
    ("wanted", "diff"),
    [
        (spec(), []),
        (spec(subnet="10.210.1.0/24"), []),
        (spec(encrypted=True), ["encrypted: existing False, wanted True"]),
        (spec(attachable=False), ["attachable: existing True, wanted False"]),
        (spec(subnet="10.99.0.0/24"), ["subnet: existing ['10.210.1.0/24'], wanted 10.99.0.0/24"]),
    ],
)
def test_network_spec_diff(wanted, diff):
    assert f.docker_network_spec_diff(OVERLAY, wanted) == diff


def test_network_spec_diff_scope_and_encryption():
    local = {**OVERLAY, "Driver": "bridge", "Scope": "local", "Options": {"encrypted": ""}}
    got = f.docker_network_spec_diff(local, spec(encrypted=True))
    assert got == ["driver: existing 'bridge', wanted 'overlay'", "scope: existing 'local', wanted 'swarm'"]


def test_network_spec_diffs_and_missing():
    specs = f.docker_network_specs("dokploy-network", data="bizosaas-network")
    assert f.docker_network_spec_diffs([OVERLAY], specs) == []
    assert [s["name"] for s in f.docker_networks_missing([OVERLAY], specs)] == ["dokploy-network"]
    enc = f.docker_network_specs("dokploy-network", data="bizosaas-network", encrypted=True)
    assert f.docker_network_spec_diffs([OVERLAY], enc) == ["bizosaas-network encrypted: existing False, wanted True"]


def test_network_specs_platforms_overrides_custom():
    specs = f.docker_network_specs(
        "dokploy-network",
        data="bizosaas-network",
        platforms={"bizoholic": {"enabled": True}, "coreldove": {}, "management": {"enabled": False}},
        prefix="bizosaas-",
        platform_attachable=False,
        overrides={"bizosaas-bizoholic": {"subnet": "10.211.0.0/24"}},
        custom=[{"name": "monitoring", "encrypted": True}],
    )
    by = {s["name"]: s for s in specs}
    assert list(by) == [
        "dokploy-network",
        "bizosaas-network",
        "bizosaas-bizoholic",
        "bizosaas-bizoholic-edge",
        "bizosaas-coreldove",
        "bizosaas-coreldove-edge",
        "monitoring",
    ]
    assert by["bizosaas-bizoholic"] == {
        "name": "bizosaas-bizoholic",
        "driver": "overlay",
        "attachable": False,
        "encrypted": False,
        "subnet": "10.211.0.0/24",
    }
    assert by["monitoring"]["encrypted"] and by["monitoring"]["attachable"]
    # a platform's edge overlay: Traefik (a standalone container) joins it, whatever platform_attachable says
    assert by["bizosaas-coreldove-edge"] == {
        "name": "bizosaas-coreldove-edge",
        "driver": "overlay",
        "attachable": True,
        "encrypted": False,
        "subnet": "",
    }


def test_network_specs_platform_edges_follow_prefix_suffix_and_encryption():
    specs = f.docker_network_specs(
        "dokploy-network", data="bizosaas-network", platforms={"shop": {}}, prefix="acme-", edge_suffix="-public",
        encrypted=True, overrides={"acme-shop-public": {"subnet": "10.212.0.0/24"}},
    )
    by = {s["name"]: s for s in specs}
    assert list(by) == ["dokploy-network", "bizosaas-network", "acme-shop", "acme-shop-public"]
    assert by["acme-shop-public"]["encrypted"] and by["acme-shop-public"]["subnet"] == "10.212.0.0/24"


def test_platform_edge_networks_match_the_specs():
    platforms = {"bizoholic": {"enabled": True}, "coreldove": None, "management": {"enabled": False}}
    edges = f.docker_platform_edge_networks(platforms, "bizosaas-", "-edge")
    assert edges == ["bizosaas-bizoholic-edge", "bizosaas-coreldove-edge"]
    specs = f.docker_network_specs("dokploy-network", data="bizosaas-network", platforms=platforms)
    assert set(edges) <= {s["name"] for s in specs}
    assert f.docker_platform_edge_networks({}, "bizosaas-", "") == []
    assert "docker_platform_edge_networks" in f.FilterModule().filters()


def test_platform_private_networks_match_the_specs():
    platforms = {"bizoholic": {"enabled": True}, "coreldove": None, "management": {"enabled": False}}
    private = f.docker_platform_networks(platforms, "bizosaas-")
    assert private == ["bizosaas-bizoholic", "bizosaas-coreldove"]
    specs = f.docker_network_specs("dokploy-network", data="bizosaas-network", platforms=platforms)
    assert set(private) <= {s["name"] for s in specs}
    assert not set(private) & set(f.docker_platform_edge_networks(platforms, "bizosaas-", "-edge"))
    assert f.docker_platform_networks({}, "bizosaas-") == []
    assert "docker_platform_networks" in f.FilterModule().filters()


def test_platform_edge_networks_refuse_an_empty_suffix():
    with pytest.raises(AnsibleFilterError, match="bizosaas_platform_edge_network_suffix"):
        f.docker_platform_edge_networks({"coreldove": {}}, "bizosaas-", "")
    with pytest.raises(AnsibleFilterError, match="would be its private overlay"):
        f.docker_network_specs("dokploy-network", data="bizosaas-network", platforms={"coreldove": {}}, edge_suffix="")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"overrides": {"nope": {"encrypted": True}}}, "docker_swarm_network_overrides"),
        ({"overrides": {"dokploy-network": {"colour": "red"}}}, "unknown keys"),
        ({"custom": [{"attachable": True}]}, "docker_swarm_networks_custom"),
        ({"custom": [{"name": "dokploy-network"}]}, "more than once"),
        ({"overrides": {"dokploy-network": {"subnet": "10.0.0.1/24"}}}, "not a CIDR"),
        # a platform named shop-edge collides with shop's edge overlay
        ({"platforms": {"shop": {}, "shop-edge": {}}}, "more than once"),
        ({"custom": [{"name": "bizosaas-shop-edge"}], "platforms": {"shop": {}}}, "more than once"),
    ],
)
def test_network_specs_rejects(kw, match):
    with pytest.raises(AnsibleFilterError, match=match):
        f.docker_network_specs("dokploy-network", **kw)


def test_docker_pool():
    assert f.docker_pool("10.210.0.0/16", 24) == {"base": "10.210.0.0/16", "size": 24}


def test_swarm_peers():
    hostvars = {
        "vps1": {"ansible_host": "203.0.113.10", "docker_swarm_advertise_addr": "10.0.0.2"},
        "vps2": {"ansible_host": "203.0.113.11"},
        "vps3": {},
    }
    assert f.docker_swarm_peers(["vps1", "vps2", "vps3"], hostvars) == ["10.0.0.2", "203.0.113.11", "vps3"]
    assert f.docker_swarm_peers([], hostvars) == []


def test_filter_module_exports():
    assert set(f.FilterModule().filters()) >= {
        "docker_pool_conflicts",
        "docker_cidr_conflicts",
        "docker_first_private_address",
        "docker_host_addresses",
        "docker_network_spec_diff",
        "docker_network_spec_diffs",
        "docker_networks_missing",
        "docker_network_specs",
        "docker_pool",
        "docker_swarm_peers",
    }
