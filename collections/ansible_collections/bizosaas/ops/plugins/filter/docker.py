"""Docker engine/Swarm filters: address-pool overlap checks, the advertise address, network specs."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: docker_pool_conflicts
short_description: List the host routes and addresses a Docker address pool overlaps
description:
  - Each pool is C({base: CIDR, size: prefix length}), as in daemon.json C(default-address-pools).
  - C(routes) is C(ip -j route) output, C(addresses) is C(ip -j addr) output. Routes and addresses
    on Docker's own interfaces (docker0, docker_gwbridge, br-*, veth*) and the default route are
    ignored, so the check gives the same answer before and after Docker created its networks.
  - Fails (AnsibleFilterError naming C(name)) on a malformed pool.
"""

# Interfaces Docker creates itself: their routes come *from* the pools, they never conflict.
DOCKER_DEVICES = r"^(docker0|docker_gwbridge|br-[0-9a-f]{12}|veth.*|vx-.*|ov-.*|lo)$"
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _pool_networks(pools: Any, name: str) -> list[tuple[_Net, int]]:
    if not isinstance(pools, list):
        raise AnsibleFilterError(f"{name}: expected a list of {{base, size}} pools, got {pools!r}")
    out: list[tuple[_Net, int]] = []
    for i, pool in enumerate(pools):
        if not isinstance(pool, dict) or "base" not in pool or "size" not in pool:
            raise AnsibleFilterError(f"{name}[{i}]: each pool needs 'base' (a CIDR) and 'size', got {pool!r}")
        try:
            base = ipaddress.ip_network(str(pool["base"]), strict=True)
        except ValueError as exc:
            raise AnsibleFilterError(f"{name}[{i}]: base {pool['base']!r} is not a network CIDR ({exc})") from exc
        try:
            size = int(pool["size"])
        except (TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"{name}[{i}]: size {pool['size']!r} is not a prefix length") from exc
        if not base.prefixlen <= size <= base.max_prefixlen:
            raise AnsibleFilterError(
                f"{name}[{i}]: size {size} must be between the base's prefix length {base.prefixlen} "
                f"and {base.max_prefixlen}"
            )
        out.append((base, size))
    return out


def _host_networks(routes: Any, addresses: Any, ignore_devices: str) -> list[tuple[_Net, str]]:
    ignore = re.compile(ignore_devices)
    nets: list[tuple[_Net, str]] = []
    for route in routes or []:
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dst in ("default", "") or ignore.match(dev or ""):
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if net.prefixlen == 0:
            continue
        nets.append((net, f"route {dst} dev {dev}"))
    for iface in addresses or []:
        dev = iface.get("ifname", "")
        if ignore.match(dev):
            continue
        for addr in iface.get("addr_info", []):
            try:
                net = ipaddress.ip_interface(f"{addr['local']}/{addr['prefixlen']}").network
            except (KeyError, ValueError):
                continue
            if net.is_loopback or net.is_link_local:
                continue
            nets.append((net, f"address {addr['local']}/{addr['prefixlen']} on {dev}"))
    return nets


def docker_pool_conflicts(
    pools: Any, routes: Any = None, addresses: Any = None, name: str = "pools", ignore_devices: str = DOCKER_DEVICES
) -> list[str]:
    """Return one message per (pool, host network) overlap; [] when the pools are free."""
    conflicts: list[str] = []
    nets = _pool_networks(pools, name)
    for (a, _), (b, _) in ((x, y) for i, x in enumerate(nets) for y in nets[i + 1 :]):
        if a.version == b.version and a.overlaps(b):
            conflicts.append(f"{name}: pools {a} and {b} overlap each other")
    seen: set[str] = set()
    for base, _size in nets:
        for net, what in _host_networks(routes, addresses, ignore_devices):
            if base.version == net.version and base.overlaps(net):
                msg = f"{name}: pool {base} overlaps the host's {what}"
                if msg not in seen:
                    seen.add(msg)
                    conflicts.append(msg)
    return conflicts


def docker_cidr_conflicts(cidrs: Any, others: Any, name: str = "cidrs", other_name: str = "others") -> list[str]:
    """Overlaps between two lists of CIDRs (strings or {base, size} pools)."""

    def norm(items: Any, label: str) -> list[_Net]:
        out = []
        for item in items or []:
            value = item.get("base") if isinstance(item, dict) else item
            try:
                out.append(ipaddress.ip_network(str(value), strict=False))
            except ValueError as exc:
                raise AnsibleFilterError(f"{label}: {value!r} is not a CIDR") from exc
        return out

    return [
        f"{name}: {a} overlaps {other_name} {b}"
        for a in norm(cidrs, name)
        for b in norm(others, other_name)
        if a.version == b.version and a.overlaps(b)
    ]


def docker_first_private_address(addresses: Any, ignore_devices: str = DOCKER_DEVICES) -> str:
    """The first private IPv4 address (RFC 1918 / CGNAT) of `ip -j addr`, skipping Docker's interfaces.

    Dokploy's install.sh greps `ip addr` for 10/8, 172.16/12 and 192.168/16; this does the same
    with ipaddress, but never picks docker0 or a bridge Docker created. '' when there is none.
    """
    ignore = re.compile(ignore_devices)
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]
    for iface in addresses or []:
        if ignore.match(iface.get("ifname", "")):
            continue
        for addr in iface.get("addr_info", []):
            if addr.get("family") != "inet":
                continue
            ip = ipaddress.ip_address(addr["local"])
            if any(ip in net for net in private):
                return str(ip)
    return ""


def docker_host_addresses(addresses: Any) -> list[str]:
    """Every address and interface name in `ip -j addr` (valid values for an advertise address)."""
    out: list[str] = []
    for iface in addresses or []:
        out.append(iface.get("ifname", ""))
        out.extend(a["local"] for a in iface.get("addr_info", []) if "local" in a)
    return [x for x in out if x]


def docker_network_spec_diff(network: Any, wanted: dict[str, Any]) -> list[str]:
    """Differences between an existing network (docker network inspect) and the wanted spec.

    wanted: {name, driver, attachable, encrypted, subnet ('' = any)}. Returns one line per field
    that differs, e.g. "encrypted: existing false, wanted true".
    """
    if not network:
        return []
    opts = network.get("Options") or {}
    subnets = [c.get("Subnet") for c in ((network.get("IPAM") or {}).get("Config") or []) if c.get("Subnet")]
    existing = {
        "driver": network.get("Driver"),
        "scope": network.get("Scope"),
        "attachable": bool(network.get("Attachable")),
        "encrypted": "encrypted" in opts,
    }
    diffs: list[str] = []
    for key in ("driver", "attachable", "encrypted"):
        if key in wanted and existing[key] != wanted[key]:
            diffs.append(f"{key}: existing {existing[key]!r}, wanted {wanted[key]!r}")
    if wanted.get("driver") == "overlay" and existing["scope"] != "swarm":
        diffs.append(f"scope: existing {existing['scope']!r}, wanted 'swarm'")
    subnet = wanted.get("subnet") or ""
    if subnet:
        try:
            want = ipaddress.ip_network(subnet, strict=False)
        except ValueError as exc:
            raise AnsibleFilterError(f"{wanted.get('name', 'network')}: subnet {subnet!r} is not a CIDR") from exc
        if not any(ipaddress.ip_network(s, strict=False) == want for s in subnets):
            diffs.append(f"subnet: existing {subnets or 'none'}, wanted {subnet}")
    return diffs


def docker_network_spec_diffs(networks: Any, specs: Any) -> list[str]:
    """Every difference between the existing networks (docker_host_info verbose list, or
    `docker network inspect` objects) and the wanted specs, as "<name> <field>: ..." lines."""
    by_name = {n.get("Name"): n for n in networks or []}
    out: list[str] = []
    for spec in specs or []:
        if spec["name"] in by_name:
            out.extend(f"{spec['name']} {d}" for d in docker_network_spec_diff(by_name[spec["name"]], spec))
    return out


def docker_networks_missing(networks: Any, specs: Any) -> list[dict[str, Any]]:
    """The specs whose network does not exist yet (the only ones this toolkit ever creates)."""
    names = {n.get("Name") for n in networks or []}
    return [s for s in specs or [] if s["name"] not in names]


def docker_pool(base: str, size: int = 24) -> dict[str, Any]:
    """'10.210.0.0/16' -> {base: '10.210.0.0/16', size: 24} (a swarm pool as an engine-style pool)."""
    return {"base": base, "size": int(size)}


def docker_swarm_peers(hosts: Any, hostvars: Any) -> list[str]:
    """Each swarm node's address as the other nodes see it: docker_swarm_advertise_addr, else
    ansible_host, else the inventory name (for the host firewall's swarm rules)."""
    out: list[str] = []
    for host in hosts or []:
        hv = hostvars[host]
        addr = hv.get("docker_swarm_advertise_addr") or hv.get("ansible_host") or host
        if str(addr) not in out:
            out.append(str(addr))
    return out


_SPEC_KEYS = {"name", "driver", "attachable", "encrypted", "subnet"}


def _enabled_platforms(platforms: Any) -> list[str]:
    return [name for name, platform in (platforms or {}).items() if (platform or {}).get("enabled", True)]


def docker_platform_edge_networks(platforms: Any, prefix: str = "bizosaas-", suffix: str = "-edge") -> list[str]:
    """Each enabled platform's edge overlay, `<prefix><platform><suffix>` (bizosaas-coreldove-edge).

    Only that platform's routed services and the edge (Traefik) join it, so a routed service reaches
    neither another platform's routed services nor Dokploy's services on the shared edge network.
    An empty suffix is an error (once a platform is enabled): the name would be the platform's
    private overlay.
    """
    names = _enabled_platforms(platforms)
    if names and not suffix:
        raise AnsibleFilterError(
            "bizosaas_platform_edge_network_suffix (docker_swarm_platform_edge_network_suffix) is empty: each "
            f"platform's edge overlay would be its private overlay ({prefix}<platform>), which Traefik must not "
            "join. Set a suffix such as '-edge'."
        )
    return [f"{prefix}{name}{suffix}" for name in names]


def docker_platform_networks(platforms: Any, prefix: str = "bizosaas-") -> list[str]:
    """Each enabled platform's private overlay, `<prefix><platform>` (bizosaas-coreldove).

    Every service of a platform joins it, and so do the shared data services (Postgres, Redis) and
    the platform's own Temporal: a platform reaches the data services and itself, and no network
    holds two platforms' services.
    """
    return [f"{prefix}{name}" for name in _enabled_platforms(platforms)]


def docker_network_specs(
    edge: str,
    data: str = "",
    platforms: Any = None,
    prefix: str = "bizosaas-",
    encrypted: bool = False,
    platform_attachable: bool = True,
    overrides: Any = None,
    custom: Any = None,
    edge_suffix: str = "-edge",
) -> list[dict[str, Any]]:
    """The overlays to ensure: edge, data, per enabled platform its private overlay and its edge
    overlay, then `custom`; overrides by name.

    Each spec is {name, driver: overlay, attachable, encrypted, subnet ('' = from the swarm pool)}.
    A platform's edge overlay (`<prefix><platform><edge_suffix>`) is always attachable: the edge,
    a standalone container, joins it.
    """
    base = {"driver": "overlay", "attachable": True, "encrypted": bool(encrypted), "subnet": ""}
    specs: list[dict[str, Any]] = [{**base, "name": n} for n in (edge, data) if n]
    edges = docker_platform_edge_networks(platforms, prefix, edge_suffix)
    for private, edge_name in zip(docker_platform_networks(platforms, prefix), edges, strict=True):
        specs.append({**base, "name": private, "attachable": bool(platform_attachable)})
        specs.append({**base, "name": edge_name})
    for i, extra in enumerate(custom or []):
        if not isinstance(extra, dict) or not extra.get("name"):
            raise AnsibleFilterError(f"docker_swarm_networks_custom[{i}]: each network needs a name, got {extra!r}")
        unknown = set(extra) - _SPEC_KEYS
        if unknown:
            raise AnsibleFilterError(f"docker_swarm_networks_custom[{i}]: unknown keys {sorted(unknown)}")
        specs.append({**base, **extra})
    names = [s["name"] for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise AnsibleFilterError(f"docker_swarm networks: {dupes} defined more than once")
    for name, override in (overrides or {}).items():
        if name not in names:
            raise AnsibleFilterError(f"docker_swarm_network_overrides: {name!r} is not one of the networks {names}")
        unknown = set(override or {}) - (_SPEC_KEYS - {"name"})
        if unknown:
            raise AnsibleFilterError(f"docker_swarm_network_overrides[{name}]: unknown keys {sorted(unknown)}")
    specs = [{**s, **((overrides or {}).get(s["name"]) or {})} for s in specs]
    for s in specs:
        if s["subnet"]:
            try:
                ipaddress.ip_network(s["subnet"], strict=True)
            except ValueError as exc:
                raise AnsibleFilterError(f"network {s['name']}: subnet {s['subnet']!r} is not a CIDR ({exc})") from exc
    return specs


def docker_rolling_current(names: Any, base: str) -> str:
    """The current version of a docker secret or config kept with community.docker's rolling_versions:
    among `names` (e.g. `docker secret ls --format {{.Name}}`), `<base>_v<N>` with the highest N.
    Fails naming `base` when none exists (the role that keeps it has not run yet)."""
    pattern = re.compile(rf"^{re.escape(str(base))}_v([0-9]+)$")
    found = [(int(m.group(1)), str(n)) for n in (names or []) if (m := pattern.match(str(n)))]
    if not found:
        raise AnsibleFilterError(
            f"no docker secret or config {base}_v<N> exists yet: run the role that keeps it first "
            f"(for a Temporal token or CA, playbooks/data_services.yml --tags temporal)"
        )
    return max(found)[1]


class FilterModule:
    def filters(self):
        return {
            "docker_pool_conflicts": docker_pool_conflicts,
            "docker_cidr_conflicts": docker_cidr_conflicts,
            "docker_first_private_address": docker_first_private_address,
            "docker_host_addresses": docker_host_addresses,
            "docker_network_spec_diff": docker_network_spec_diff,
            "docker_network_specs": docker_network_specs,
            "docker_platform_edge_networks": docker_platform_edge_networks,
            "docker_platform_networks": docker_platform_networks,
            "docker_network_spec_diffs": docker_network_spec_diffs,
            "docker_networks_missing": docker_networks_missing,
            "docker_pool": docker_pool,
            "docker_rolling_current": docker_rolling_current,
            "docker_swarm_peers": docker_swarm_peers,
        }
