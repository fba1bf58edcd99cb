"""Filters for the temporal role and its glue: one dev server per platform, the addresses and docker
secrets the platforms use, the UI routes, and the JWKS of the server's token signing key."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

try:  # the collection's own module_utils (the controller loads the collection from collections/)
    from ansible_collections.bizosaas.ops.plugins.module_utils import temporal_jwt
except ImportError:  # pragma: no cover - only when loaded outside the collection
    temporal_jwt = None  # type: ignore[assignment]

DOCUMENTATION = r"""
name: temporal
short_description: Temporal filters (per-platform dev servers, addresses, token secrets, UI routes, JWKS)
description:
  - C(temporal_platforms) turns C(temporal_namespaces) into one entry per platform (dev server, volume,
    networks, namespaces, UI path).
  - C(temporal_platform_errors) lists what is wrong with them (each naming the variable to fix).
  - C(temporal_addresses), C(temporal_token_secrets), C(temporal_ui_routes) are the glue's contract with
    the platforms and the edge, for either C(temporal_mode).
  - C(temporal_jwks) is the JWKS (RFC 7517) Temporal's key provider reads, from PEM public keys.
  - C(temporal_token_permissions) is the permissions claim of a platform's token.
"""

PLATFORM = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
FRONTEND_PORT = 7233
DEV_UI_PORT = 8233
UI_PORT = 8080
MODES = ("dev", "server")


def _mode(mode: Any) -> str:
    if mode not in MODES:
        raise AnsibleFilterError(f"temporal_mode must be one of {', '.join(MODES)}, got {mode!r}")
    return str(mode)


def _platforms(namespaces: Any) -> dict[str, list[str]]:
    """{platform: [namespace, ...]} in the order of temporal_namespaces."""
    if not isinstance(namespaces, Sequence) or isinstance(namespaces, str):
        raise AnsibleFilterError(f"temporal_namespaces must be a list, got {type(namespaces).__name__}")
    out: dict[str, list[str]] = {}
    for i, ns in enumerate(namespaces):
        if not isinstance(ns, Mapping):
            raise AnsibleFilterError(f"temporal_namespaces[{i}] must be a mapping {{name, platform}}, got {ns!r}")
        platform = ns.get("platform")
        if not isinstance(platform, str) or not PLATFORM.match(platform):
            raise AnsibleFilterError(
                f"temporal_namespaces[{i}].platform: {platform!r} is not a platform name (lowercase letters, digits "
                f"and '-', at most 31): each namespace belongs to one platform, whose Temporal it lives in"
            )
        out.setdefault(platform, []).append(str(ns.get("name")))
    return out


def temporal_platforms(
    namespaces: Any,
    service_name: str,
    volume: str,
    network_prefix: str = "bizosaas-",
    edge_suffix: str = "-edge",
) -> list[dict[str, Any]]:
    """One entry per platform that has a namespace, in the order of temporal_namespaces.

    Each is {platform, service: <service_name>-<platform> (its dev server), volume: <volume>_<platform>
    (the dev server's SQLite), network (the platform's private overlay: its services reach Temporal there,
    the dev server or the gateway), edge_network (the platform's edge overlay, where Traefik reaches a dev
    UI), namespaces, ui_path: /<platform> (the dev UI's public path)}.
    """
    if not edge_suffix:
        raise AnsibleFilterError(
            "temporal_platform_edge_network_suffix is empty: the dev server's UI network would be the platform's "
            "private overlay, which Traefik must not join"
        )
    return [
        {
            "platform": platform,
            "service": f"{service_name}-{platform}",
            "volume": f"{volume}_{platform}",
            "network": f"{network_prefix}{platform}",
            "edge_network": f"{network_prefix}{platform}{edge_suffix}",
            "namespaces": names,
            "ui_path": f"/{platform}",
        }
        for platform, names in _platforms(namespaces).items()
    ]


def temporal_platform_errors(
    namespaces: Any, edge_suffix: str = "-edge", token_days: int = 365, token_renew_days: int = 30
) -> list[str]:
    """Errors of the per-platform layout, each naming the variable and the fix ([] when valid)."""
    errs: list[str] = []
    try:
        _platforms(namespaces)
    except AnsibleFilterError as exc:
        errs.append(str(exc))
    if not edge_suffix:
        errs.append(
            "temporal_platform_edge_network_suffix (bizosaas_platform_edge_network_suffix) is empty: a platform's "
            "edge overlay would be its private overlay, which Traefik must not join. Set a suffix such as '-edge'."
        )
    if int(token_renew_days) >= int(token_days):
        errs.append(
            f"temporal_token_renew_days ({token_renew_days}) must be less than temporal_token_days ({token_days}): "
            "otherwise every run signs new tokens"
        )
    return errs


def temporal_addresses(namespaces: Any, mode: str, service_name: str, gateway_service: str) -> dict[str, str]:
    """{platform: host:port} each platform's services use: in dev mode its own dev server, in server
    mode the gateway in front of the shared cluster's frontend (the only Temporal port on its network)."""
    platforms = _platforms(namespaces)
    if _mode(mode) == "dev":
        return {p: f"{service_name}-{p}:{FRONTEND_PORT}" for p in platforms}
    return {p: f"{gateway_service}:{FRONTEND_PORT}" for p in platforms}


def temporal_token_secrets(namespaces: Any, mode: str, stack: str) -> dict[str, str]:
    """{platform: base name of the docker secret holding its token} in server mode; {} in dev mode (the
    dev server has no authorization). The temporal role keeps each with rolling versions
    (`<name>_v<N>`, highest N current; `docker_rolling_current` picks it)."""
    if _mode(mode) == "dev":
        return {}
    return {p: f"{stack}_temporal_token_{p}" for p in _platforms(namespaces)}


def temporal_ui_routes(namespaces: Any, mode: str, service_name: str, ui_service: str) -> list[dict[str, str]]:
    """Where the edge routes the Temporal UI: in dev mode one path per platform (/<platform>, served by
    that platform's dev server with that public path), in server mode the one UI at the root."""
    if _mode(mode) == "dev":
        return [{"path": f"/{p}", "url": f"http://{service_name}-{p}:{DEV_UI_PORT}"} for p in _platforms(namespaces)]
    return [{"path": "", "url": f"http://{ui_service}:{UI_PORT}"}]


def temporal_token_permissions(namespaces: Any, platform: str, role: str = "write") -> list[str]:
    """The permissions claim of `platform`'s token: `<namespace>:<role>` for its namespaces only."""
    names = _platforms(namespaces).get(platform)
    if not names:
        raise AnsibleFilterError(f"temporal: platform {platform!r} has no namespace in temporal_namespaces")
    try:
        return _jwt().permissions(names, role)
    except _jwt().TokenError as exc:
        raise AnsibleFilterError(f"temporal token of {platform}: {exc}") from None


def _jwt():
    if temporal_jwt is None or not temporal_jwt.HAS_CRYPTOGRAPHY:  # pragma: no cover
        raise AnsibleFilterError("temporal filters need the python cryptography package on the controller")
    return temporal_jwt


def temporal_jwks(public_pems: Any) -> dict[str, Any]:
    """The JWKS of the token signing key(s), from PEM public keys (one string or a list)."""
    try:
        return _jwt().jwks(public_pems)
    except _jwt().TokenError as exc:
        raise AnsibleFilterError(f"temporal_jwks: {exc}") from None


class FilterModule:
    def filters(self):
        return {
            "temporal_platforms": temporal_platforms,
            "temporal_platform_errors": temporal_platform_errors,
            "temporal_addresses": temporal_addresses,
            "temporal_token_secrets": temporal_token_secrets,
            "temporal_ui_routes": temporal_ui_routes,
            "temporal_token_permissions": temporal_token_permissions,
            "temporal_jwks": temporal_jwks,
        }
