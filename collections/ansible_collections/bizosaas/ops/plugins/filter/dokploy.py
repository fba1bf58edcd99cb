"""Filters for the dokploy role: version validation and the port preflight."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: dokploy_version
short_description: Validate a pinned Dokploy version and return it without a leading "v"
description:
  - Accepts C(MAJOR.MINOR.PATCH) with an optional C(v) prefix and an optional pre-release
    suffix (C(0.25.11), C(v0.26.0-rc.1)). Refuses moving channels (C(latest), C(canary)) and
    anything else, naming the variable, so a deploy is reproducible and an upgrade is explicit.
options:
  _input: {description: The version, type: str, required: true}
  name: {description: The variable name, used in error messages, type: str, default: dokploy_version}
"""

_VERSION = re.compile(
    r"^v?(?P<core>(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*))"
    r"(?P<pre>-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_SS_ADDR = re.compile(r"^(?P<addr>.*):(?P<port>\d+|\*)$")
_SS_USER = re.compile(r'\("(?P<name>[^"]+)",pid=(?P<pid>\d+)')
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


def dokploy_version(value: Any, name: str = "dokploy_version") -> str:
    """Return the version without its "v" prefix; raise AnsibleFilterError when malformed."""
    if not isinstance(value, str):
        raise AnsibleFilterError(
            f"{name}: expected a version string such as '0.25.11', got {value!r} ({type(value).__name__}). "
            "Quote it in YAML so it stays a string."
        )
    m = _VERSION.match(value.strip())
    if not m:
        raise AnsibleFilterError(
            f"{name}: {value!r} is not a pinned version. Use MAJOR.MINOR.PATCH such as '0.25.11' "
            "(optionally 'v0.25.11' or with a pre-release suffix '0.26.0-rc.1'); moving channels "
            "like 'latest' or 'canary' are refused so that every deploy is reproducible."
        )
    return m.group("core") + (m.group("pre") or "")


def dokploy_listeners(ss_output: str) -> list[dict[str, Any]]:
    """Parse `ss -ltnpH` output into [{port, address, process, pid}] (one row per process)."""
    rows: list[dict[str, Any]] = []
    for line in (ss_output or "").splitlines():
        fields = line.split()
        # State Recv-Q Send-Q Local:Port Peer:Port [users:(...)]
        if len(fields) < 5:
            continue
        m = _SS_ADDR.match(fields[3])
        if not m or m.group("port") == "*":
            continue
        port = int(m.group("port"))
        users = " ".join(fields[5:])
        procs = _SS_USER.findall(users)
        if not procs:
            rows.append({"port": port, "address": m.group("addr"), "process": None, "pid": None})
        for pname, pid in procs:
            row = {"port": port, "address": m.group("addr"), "process": pname, "pid": int(pid)}
            if row not in rows:
                rows.append(row)
    return rows


def _published(containers: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Map host port -> container names, from docker_host_info(containers, verbose_output)."""
    out: dict[int, list[str]] = {}
    for c in containers or []:
        names = [n.lstrip("/") for n in (c.get("Names") or [])] or [c.get("Id", "?")[:12]]
        for p in c.get("Ports") or []:
            if p.get("PublicPort") and p.get("Type", "tcp") == "tcp":
                out.setdefault(int(p["PublicPort"]), [])
                for n in names:
                    if n not in out[int(p["PublicPort"])]:
                        out[int(p["PublicPort"])].append(n)
    return out


def dokploy_port_conflicts(
    ss_output: str,
    ports: list[int],
    containers: list[dict[str, Any]] | None = None,
    cgroups: dict[Any, str] | None = None,
    owned: str = r"^dokploy(-traefik)?(\.\d+\.[0-9a-z]+)?$",
    swarm_ports: list[int] | None = None,
) -> list[str]:
    """Explain every wanted port that something other than Dokploy's own containers holds.

    A port is ours when the container behind it (published by docker-proxy or iptables, or the
    container whose cgroup holds the listening process) has a name matching `owned`: the swarm
    task `dokploy.1.<id>` or the `dokploy-traefik` container/service. Returns one message per
    conflict, naming the process and pid (and the container when there is one). `swarm_ports`
    are the ports our own swarm services publish in ingress mode, where dockerd itself listens.
    """
    try:
        wanted = [int(p) for p in ports]
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"dokploy_port_conflicts: ports must be integers, got {ports!r}") from exc
    owned_re = re.compile(owned)
    by_id = {}
    for c in containers or []:
        names = [n.lstrip("/") for n in (c.get("Names") or [])]
        if c.get("Id"):
            by_id[c["Id"]] = names[0] if names else c["Id"][:12]
    published = _published(containers or [])
    cgroups = {int(k): v for k, v in (cgroups or {}).items()}
    ours_ingress = {int(p) for p in swarm_ports or []}
    problems: list[str] = []
    listeners = dokploy_listeners(ss_output)
    for port in wanted:
        holders = [r for r in listeners if r["port"] == port]
        names = published.get(port, [])
        foreign_containers = [n for n in names if not owned_re.match(n)]
        for row in holders:
            proc = row["process"] or "an unknown process"
            pid = f" (pid {row['pid']})" if row["pid"] else ""
            if row["process"] == "docker-proxy":
                if names and not foreign_containers:
                    continue
                who = ", ".join(foreign_containers) or "a container this role does not manage"
                problems.append(f"port {port} is held by docker-proxy{pid} for container {who}")
                continue
            if row["process"] == "dockerd" and port in ours_ingress:
                continue
            cid_match = _CONTAINER_ID.findall(cgroups.get(row["pid"] or -1, ""))
            container = by_id.get(cid_match[-1]) if cid_match else None
            if container and owned_re.match(container):
                continue
            inside = f" in container {container}" if container else ""
            problems.append(f"port {port} is held by {proc}{pid}{inside} on {row['address']}")
        if not holders and foreign_containers:
            problems.append(f"port {port} is published by container {', '.join(foreign_containers)}")
    return problems


def dokploy_webhook_line(hook: Mapping[str, Any], base: str = "") -> str:
    """One line per webhook for `make webhooks`: project/compose (stack) and the URL to POST.

    `base` is the public origin (https://dokploy.<domain>) when Traefik routes /api/deploy/ there;
    otherwise the URL on the manager (Dokploy's own port) is shown."""
    url = (base.rstrip("/") + hook["path"]) if base else hook.get("url", hook["path"])
    return f"{hook.get('project', '?')}/{hook.get('compose', '?')} (stack {hook.get('stack_name') or '?'}): POST {url}"


class FilterModule:
    def filters(self):
        return {
            "dokploy_webhook_line": dokploy_webhook_line,
            "dokploy_version": dokploy_version,
            "dokploy_listeners": dokploy_listeners,
            "dokploy_port_conflicts": dokploy_port_conflicts,
        }
