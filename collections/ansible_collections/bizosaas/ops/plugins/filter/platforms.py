"""Filters for the platform_stack role: validate the platforms-as-data, compute each service's
networks, secrets and environment, list the routed domains, and explain self-check failures."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

try:  # the collection's own image filter (same parsing rules as bizosaas.ops.image_ref) and bounds
    from ansible_collections.bizosaas.ops.plugins.filter.images import image_ref, parse_image
    from ansible_collections.bizosaas.ops.plugins.filter.inputs import bounds_errors, parse_size
except ImportError:  # pragma: no cover - only when loaded outside the collection
    from .images import image_ref, parse_image  # type: ignore[no-redef]
    from .inputs import bounds_errors, parse_size  # type: ignore[no-redef]

DOCUMENTATION = r"""
name: platforms_validate
short_description: Validate bizosaas_platforms and a platform selection; return the selected names
description:
  - Checks the base domain, every enabled platform's services (image pinned, port, hosts, C(uses)),
    that every C(uses) points at something the data layer defines (database, Redis user, Temporal
    namespace), that no two services claim the same host, that every selected platform exists, and
    that every selected platform's secrets are present.
  - Fails with AnsibleFilterError naming the variable to fix.
options:
  _input: {description: bizosaas_platforms, type: dict, required: true}
  domain: {description: bizosaas_domain, type: str, required: true}
  selection: {description: Platform names to deploy (empty = every enabled platform), type: list}
  secrets: {description: "{platform: {kind: value}} for the selected platforms", type: dict}
  secret_vars: {description: "{platform: {kind: vault variable name}} used in messages", type: dict}
  databases: {description: Databases the data layer defines (empty = do not check), type: list}
  redis_users: {description: Redis ACL users the data layer defines (empty = do not check), type: list}
  service_bounds:
    description:
      - "Bounds of the per-service numbers ({replicas, cpus, memory, reserve_memory, port: spec}, the specs of
        bizosaas.ops.bounds_errors), checked wherever they are set: the platform data, I(service_defaults) and
        I(overrides); a memory reservation above the service's limit is an error too. Empty = do not check."
    type: dict
  service_defaults: {description: platform_stack_service_defaults, type: dict}
  overrides: {description: "bizosaas_platform_overrides: {platform: {service | '*': {replicas, ...}}}", type: dict}
  reserved_volumes: {description: Docker volume names no platform may use (the data services' own), type: list}
"""

USES = ("postgres", "redis", "temporal", "analytics")
# Which secret each kind of use needs (a service mounts only these).
SECRET_OF_USE = {"postgres": "postgres", "redis": "redis", "analytics": "analytics"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_FQDN = re.compile(rf"^(?=.{{4,253}}$){_LABEL}(?:\.{_LABEL})*\.[a-z][a-z0-9-]{{0,62}}(?<!-)$")


def _err(msg: str) -> AnsibleFilterError:
    return AnsibleFilterError(msg)


def check_domain(domain: Any, name: str = "bizosaas_domain") -> str:
    if domain is None or (isinstance(domain, str) and not domain.strip()):
        raise _err(
            f"{name} is not set. Set it to the base domain every platform hangs from (bizoholic.<domain>, "
            "admin.<domain>, ...) in inventories/<env>/group_vars/all/vars.yml, for example 'example.org'."
        )
    if not isinstance(domain, str) or not _FQDN.match(domain):
        raise _err(
            f"{name}: {domain!r} is not a valid base domain. Use a lower-case DNS name with at least one dot "
            "and no scheme, port, path, wildcard or trailing dot, for example 'example.org'."
        )
    return domain


def _check_host(host: Any, where: str) -> str:
    if not isinstance(host, str) or not _FQDN.match(host):
        raise _err(f"{where}: {host!r} is not a valid host name (lower-case FQDN, no scheme or port).")
    return host


def selected_platforms(
    platforms: dict[str, Any], selection: Any = None, name: str = "bizosaas_platforms_enabled"
) -> list[str]:
    """The names to deploy: `selection` (validated) or every platform with enabled: true."""
    if not isinstance(platforms, Mapping) or not platforms:
        raise _err(
            f"bizosaas_platforms: expected a mapping of platform name -> platform data, got {type(platforms).__name__}"
        )
    known = ", ".join(sorted(platforms))
    if selection in (None, "", []):
        return [p for p, d in platforms.items() if (d or {}).get("enabled", True)]
    if isinstance(selection, str):
        selection = [s for s in re.split(r"[,\s]+", selection) if s]
    if not isinstance(selection, Sequence):
        raise _err(f"{name}: expected a list of platform names, got {selection!r}")
    for p in selection:
        if p not in platforms:
            raise _err(
                f"{name}: unknown platform {p!r}; known platforms: {known}. "
                "Add it to bizosaas_platforms first, or fix the name."
            )
    return list(dict.fromkeys(selection))


def dokploy_project_name(platforms: dict[str, Any], platform: str) -> str:
    """The Dokploy project a platform is deployed into: its `dokploy_project`, else <platform>-platform."""
    data = (platforms or {}).get(platform) or {}
    name = data.get("dokploy_project") or f"{platform}-platform"
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$", name):
        raise _err(f"bizosaas_platforms.{platform}.dokploy_project: {name!r} is not a project name "
                   "(letters, digits, space, . _ -; at most 63 characters)")
    return name


def dokploy_projects(platforms: dict[str, Any], selection: Any = None) -> list[dict[str, str]]:
    """[{name, description}] of the Dokploy project of every platform this inventory deploys."""
    return [
        {"name": dokploy_project_name(platforms, p),
         "description": f"{(platforms[p] or {}).get('description') or p} ({p}), deployed by bizosaas-ops as the "
                        f"Swarm stack {p}"}
        for p in selected_platforms(platforms, selection)
    ]


def required_secrets(platform: dict[str, Any]) -> list[str]:
    """The secret kinds a platform needs: one per kind of data use by any of its services, then each
    app secret (bizosaas_platforms.<p>.app_secrets) that a service's env_from_secrets names."""
    kinds: list[str] = []
    services = list((platform.get("services") or {}).values())  # iterated twice (a lazy view would not be)
    for svc in services:
        for use in (svc or {}).get("uses") or []:
            kind = SECRET_OF_USE.get(use)
            if kind and kind not in kinds:
                kinds.append(kind)
    for svc in services:
        sources = (svc or {}).get("env_from_secrets") or {}
        for source in sources.values() if isinstance(sources, Mapping) else []:
            if source not in ENV_SOURCES and source not in RAW_SOURCES and source not in kinds:
                kinds.append(str(source))
    return kinds


# ---------------------------------------------------------------------------------------------
# The app contract (docs/app-contract.md): secrets as files plus an env shim, migrations, volumes,
# health without curl, workers.

# Where the env shim (files/env-shim.sh, a docker config) is mounted in a service's containers.
SHIM_TARGET = "/run/bizosaas-env-shim"
SHIM_SHELL = "/bin/sh"
# env_from_secrets sources that the shim builds as URLs from the secret file and the PG*/REDIS_*
# variables the platform passes, and the secret (use) each needs.
ENV_SOURCES = {"postgres_url": "postgres", "redis_url": "redis"}
# Sources that are the raw content of a data secret (the use that mounts it).
RAW_SOURCES = {"postgres": "postgres", "redis": "redis", "analytics": "analytics"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_APP_SECRET = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_VOLUME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# Keys an inventory may override per service (bizosaas_platform_overrides.<p>.<service | *>).
OVERRIDE_KEYS = ("image", "env", "replicas", "cpus", "memory", "reserve_memory", "healthcheck", "health", "port",
                 "command", "migrate", "cap_add")
# Linux capability names a service may add back (every service drops ALL first): Docker's list
# without the CAP_ prefix.
_CAPABILITY = re.compile(r"^[A-Z][A-Z_]{1,30}$")


def service_cap_add(value: Any, where: str) -> list[str]:
    """The capabilities a service adds back after dropping all of them (bizosaas_platforms.<p>.services.<s>.cap_add)."""
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _err(f"{where}.cap_add: expected a list of capability names such as [NET_BIND_SERVICE], got {value!r}")
    out = []
    for cap in value:
        name = str(cap).upper().removeprefix("CAP_") if isinstance(cap, str) else None
        if name is None or not _CAPABILITY.match(name) or name == "ALL":
            raise _err(f"{where}.cap_add: {cap!r} is not one capability name (NET_BIND_SERVICE, CHOWN, ...); "
                       "a service drops every capability and adds back only those it names")
        if name == "SYS_ADMIN":
            raise _err(f"{where}.cap_add: SYS_ADMIN is root on the host in all but name; run such a service "
                       "outside the platforms")
        if name not in out:
            out.append(name)
    return sorted(out)


def app_secret_names(platform: Mapping[str, Any], where: str = "bizosaas_platforms.?") -> list[str]:
    """The platform's app secrets (bizosaas_platforms.<p>.app_secrets), validated."""
    names = platform.get("app_secrets") or []
    if not isinstance(names, Sequence) or isinstance(names, str):
        raise _err(f"{where}.app_secrets: expected a list of secret names such as [secret_key], got {names!r}")
    for n in names:
        if not isinstance(n, str) or not _APP_SECRET.match(n):
            raise _err(f"{where}.app_secrets: {n!r} must match {_APP_SECRET.pattern} (it names a docker secret, "
                       "the file /run/secrets/<name> and the vault variable vault_<platform>_<name>)")
        if n in RAW_SOURCES or n in ENV_SOURCES:
            raise _err(f"{where}.app_secrets: {n!r} is reserved for the data secrets "
                       f"({', '.join([*RAW_SOURCES, *ENV_SOURCES])}); choose another name")
    if len(set(names)) != len(names):
        raise _err(f"{where}.app_secrets: {names!r} names a secret twice")
    return list(names)


def app_secret_var(platform: str, name: str) -> str:
    """The vault variable of a platform's app secret (`make secrets` generates it)."""
    return f"vault_{platform}_{name}"


def vault_names(platforms: Any) -> list[str]:
    """Every vault variable the platforms need or declare: each data secret a service uses, and every
    declared app secret (for `make secrets`, tests/harness/secrets.py)."""
    out: set[str] = set()
    for pname, pdata in (platforms or {}).items():
        pdata = pdata if isinstance(pdata, Mapping) else {}
        out |= set(secret_vars({pname: pdata})[pname].values())
        out |= {app_secret_var(pname, n) for n in app_secret_names(pdata, f"bizosaas_platforms.{pname}")}
    return sorted(out)


def env_from_secrets_spec(
    pname: str, pdata: Mapping[str, Any], sname: str, svc: Mapping[str, Any], uses: Sequence[str] | None = None
) -> list[tuple[str, str, str]]:
    """Validate a service's env_from_secrets and return [(ENV_NAME, shim source, secret kind to mount)].

    A source is postgres_url / redis_url (built by the shim from the secret and the PG*/REDIS_*
    variables), postgres / redis / analytics (the raw password), or one of the platform's app_secrets
    (the file's content). Each needs its secret: a data source the matching `uses`, an app secret its
    name in app_secrets."""
    where = f"bizosaas_platforms.{pname}.services.{sname}.env_from_secrets"
    mapping = svc.get("env_from_secrets") or {}
    if not isinstance(mapping, Mapping):
        raise _err(f"{where}: expected a mapping ENV_NAME: source (for example SECRET_KEY: secret_key, "
                   f"DATABASE_URL: postgres_url), got {mapping!r}")
    uses = list(uses if uses is not None else (svc.get("uses") or []))
    apps = app_secret_names(pdata, f"bizosaas_platforms.{pname}")
    env = svc.get("env") or {}
    known = [*ENV_SOURCES, *[k for k, u in RAW_SOURCES.items() if u in uses], *apps]
    out = []
    for name, source in mapping.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise _err(f"{where}: {name!r} is not an environment variable name")
        if name in env:
            raise _err(f"{where}.{name}: also set in bizosaas_platforms.{pname}.services.{sname}.env; a variable "
                       "comes from one place only: drop one of them")
        if source in ENV_SOURCES:
            if ENV_SOURCES[source] not in uses:
                raise _err(f"{where}.{name}: {source} needs the service's {ENV_SOURCES[source]} secret; add "
                           f"{ENV_SOURCES[source]} to bizosaas_platforms.{pname}.services.{sname}.uses")
            out.append((name, source, ENV_SOURCES[source]))
        elif source in RAW_SOURCES:
            if RAW_SOURCES[source] not in uses:
                raise _err(f"{where}.{name}: the {source} secret is not mounted in this service; add "
                           f"{RAW_SOURCES[source]} to bizosaas_platforms.{pname}.services.{sname}.uses")
            out.append((name, f"secret:{source}_password", source))
        elif isinstance(source, str) and source in apps:
            out.append((name, f"secret:{source}", source))
        else:
            raise _err(
                f"{where}.{name}: {source!r} names no secret of platform {pname} (known here: "
                f"{', '.join(known) or 'none'}). Declare an app secret in bizosaas_platforms.{pname}.app_secrets "
                f"(its value is the vault variable vault_{pname}_<name>, generated by `make secrets`), or fix the name."
            )
    return out


def service_volumes(pname: str, sname: str, svc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A service's persistent volumes: [{name (the Docker volume's own name), target, backup}]."""
    where = f"bizosaas_platforms.{pname}.services.{sname}.volumes"
    vols = svc.get("volumes") or []
    if not isinstance(vols, Sequence) or isinstance(vols, str):
        raise _err(f"{where}: expected a list of {{name, target, backup}}, got {vols!r}")
    out, targets = [], set()
    for i, vol in enumerate(vols):
        w = f"{where}[{i}]"
        if not isinstance(vol, Mapping):
            raise _err(f"{w}: expected {{name: <docker volume name>, target: /path, backup: true}}, got {vol!r}")
        name, target, backup = vol.get("name"), vol.get("target"), vol.get("backup", True)
        if not isinstance(name, str) or not _VOLUME.match(name):
            raise _err(f"{w}.name: {name!r} must match {_VOLUME.pattern} (the Docker volume's name on the node, "
                       f"for example {pname}_{sname}_media)")
        if not isinstance(target, str) or not target.startswith("/") or target.rstrip("/") in ("", "/run/secrets") \
                or ".." in target.split("/"):
            raise _err(f"{w}.target: {target!r} must be an absolute path in the container, such as /app/media")
        if not isinstance(backup, bool):
            raise _err(f"{w}.backup: {backup!r} must be true or false")
        if target in targets:
            raise _err(f"{w}.target: {target} is mounted twice in this service")
        targets.add(target)
        out.append({"name": name, "target": target, "backup": backup})
    return out


def _argv(value: Any, where: str, allow_empty: bool = True) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(x, str) and x for x in value):
        raise _err(f"{where}: expected a list of non-empty strings (argv, no shell), got {value!r}")
    if not value and not allow_empty:
        raise _err(f"{where}: an empty command")
    return list(value)


def _healthcheck(value: Any, where: str) -> list[str]:
    test = _argv(value, where, allow_empty=False) or []
    if test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        raise _err(
            f"{where}: {value!r}: a health check is [CMD, program, arg...] or [CMD-SHELL, 'shell command'] "
            "(NONE is refused: the rolling update needs a health check to know when the new task may serve)"
        )
    return test


def default_health_command(port: int, path: str) -> list[str]:
    """The default health check of an HTTP service: GET http://127.0.0.1:<port><path>, 2xx/3xx = healthy,
    with whichever of python3, python, node, curl or wget the image has (no curl needed: plain Python
    and Node images work). A shell command (CMD-SHELL: the image needs /bin/sh); no `$` in it, so the
    compose file needs no escaping."""
    url = f"http://127.0.0.1:{port}{path}"
    py = f"import urllib.request as u; u.urlopen('{url}', timeout=10)"
    node = (f"require('http').get('{url}', r => process.exit(r.statusCode < 400 ? 0 : 1))"
            ".on('error', () => process.exit(1))")
    return ["CMD-SHELL", (
        f'if command -v python3 >/dev/null 2>&1; then exec python3 -c "{py}"; '
        f'elif command -v python >/dev/null 2>&1; then exec python -c "{py}"; '
        f'elif command -v node >/dev/null 2>&1; then exec node -e "{node}"; '
        f"elif command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --max-time 10 {url}; "
        f"elif command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null -T 10 {url}; "
        "else echo 'no python3, python, node, curl or wget in this image: give the service a healthcheck command' >&2;"
        " exit 1; fi"
    )]


def _layers(svc: Mapping[str, Any], defaults: Any, star: Any, spec: Any) -> list[Mapping[str, Any]]:
    return [x for x in (defaults, svc, star, spec) if isinstance(x, Mapping)]


def effective_health(layers: Sequence[Mapping[str, Any]], where: str) -> tuple[list[str] | None, str | None]:
    """(healthcheck command, health path) from the layers, the last one that sets either winning."""
    cmd, path = None, None
    for layer in layers:
        if layer.get("healthcheck"):
            cmd, path = _healthcheck(layer["healthcheck"], f"{where}.healthcheck"), None
        elif layer.get("health"):
            path, cmd = layer["health"], None
    if path is not None and (not isinstance(path, str) or not re.match(r"^/[A-Za-z0-9._~/%?=&-]*$", path)):
        raise _err(f"{where}.health: {path!r} is not an HTTP path such as /health")
    return cmd, path


def platforms_validate(
    platforms: Any,
    domain: Any = None,
    selection: Any = None,
    secrets: Any = None,
    secret_vars: Any = None,
    databases: Any = None,
    redis_users: Any = None,
    selection_name: str = "bizosaas_platforms_enabled",
    service_bounds: Any = None,
    service_defaults: Any = None,
    overrides: Any = None,
    reserved_volumes: Any = None,
) -> list[str]:
    check_domain(domain)
    chosen = selected_platforms(platforms, selection, selection_name)
    enabled = [p for p, d in platforms.items() if (d or {}).get("enabled", True) or p in chosen]
    hosts: dict[str, str] = {}
    volumes: dict[str, str] = {v: "the data services (reserved)" for v in (reserved_volumes or [])}
    defaults = service_defaults if isinstance(service_defaults, Mapping) else {}
    for pname in enabled:
        pdata = platforms[pname] or {}
        where = f"bizosaas_platforms.{pname}"
        if not _NAME.match(pname):
            raise _err(
                f"{where}: the platform name must match {_NAME.pattern} (it names a stack, a network, "
                "a database role and docker secrets)"
            )
        services = pdata.get("services")
        if not isinstance(services, Mapping) or not services:
            raise _err(f"{where}.services: a platform needs at least one service")
        app_secret_names(pdata, where)
        ovs = ((overrides or {}).get(pname) or {}) if isinstance(overrides, Mapping) else {}
        for target, ov in ovs.items():
            ow = f"bizosaas_platform_overrides.{pname}.{target}"
            if target != "*" and target not in services:
                raise _err(f"{ow}: platform {pname} has no service {target!r} (services: {', '.join(services)}; "
                           "'*' = every service)")
            if not isinstance(ov, Mapping):
                raise _err(f"{ow}: expected a mapping of {', '.join(OVERRIDE_KEYS)}, got {ov!r}")
            unknown = sorted(set(ov) - set(OVERRIDE_KEYS))
            if unknown:
                raise _err(f"{ow}: {', '.join(unknown)} cannot be overridden per inventory "
                           f"(only {', '.join(OVERRIDE_KEYS)})")
            _argv(ov.get("command"), f"{ow}.command")
            _argv(ov.get("migrate"), f"{ow}.migrate")
            service_cap_add(ov.get("cap_add"), ow)
        for sname, svc in services.items():
            sw = f"{where}.services.{sname}"
            if not _SERVICE.match(str(sname)):
                raise _err(f"{sw}: the service name must match {_SERVICE.pattern}")
            if not isinstance(svc, Mapping):
                raise _err(f"{sw}: expected a mapping (image, port, hosts, uses), got {svc!r}")
            parse_image(svc.get("image"), f"{sw}.image")
            health_cmd, health_path = effective_health(_layers(svc, defaults, ovs.get("*"), ovs.get(sname)), sw)
            if not health_cmd and not health_path:
                raise _err(
                    f"{sw}: no health check. Set health (an HTTP path, such as /health, that the default check "
                    "requests with python3, python, node, curl or wget, whichever the image has) or healthcheck "
                    "(a command, such as [CMD, celery, inspect, ping] for a worker); the rolling update sends "
                    "traffic to a new task, and stops the old one, only once the new one is healthy."
                )
            svc_hosts = svc.get("hosts") or []
            port = svc.get("port")
            if port is None and not svc_hosts and not health_path:
                pass  # a worker: no route, health by command, no port
            elif not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                raise _err(f"{sw}.port: {port!r} is not a TCP port (1-65535); a routed service, or one whose "
                           "health is an HTTP path, needs the port it listens on")
            _argv(svc.get("command"), f"{sw}.command")
            _argv(svc.get("migrate"), f"{sw}.migrate", allow_empty=False)
            service_cap_add(svc.get("cap_add"), sw)
            env = svc.get("env") or {}
            if not isinstance(env, Mapping) or not all(isinstance(k, str) and _ENV_NAME.match(k) for k in env):
                raise _err(f"{sw}.env: expected a mapping of environment variable names to values, got {env!r}")
            env_from_secrets_spec(pname, pdata, sname, svc)
            for i, vol in enumerate(service_volumes(pname, sname, svc)):
                owner = volumes.get(vol["name"])
                if owner is not None and not owner.startswith(f"{pname}/"):
                    raise _err(
                        f"{sw}.volumes[{i}].name: {vol['name']} is already the volume of {owner}: two platforms "
                        "sharing a volume would share their data. Give it another name (convention: "
                        f"<platform>_<service>_<what>, such as {pname}_{sname}_media)."
                    )
                volumes.setdefault(vol["name"], f"{pname}/{sname}")
            if not isinstance(svc_hosts, Sequence) or isinstance(svc_hosts, str):
                raise _err(f"{sw}.hosts: expected a list of host names, got {svc_hosts!r}")
            for h in svc_hosts:
                _check_host(h, f"{sw}.hosts")
                if h in hosts:
                    raise _err(
                        f"{sw}.hosts: {h} is already claimed by {hosts[h]}; two services cannot "
                        "share a host. Give one of them another host name."
                    )
                hosts[h] = f"{pname}/{sname}"
            uses = svc.get("uses") or []
            if not isinstance(uses, Sequence) or isinstance(uses, str) or any(u not in USES for u in uses):
                raise _err(f"{sw}.uses: {uses!r}; each entry must be one of {', '.join(USES)}")
            if "postgres" in uses or "analytics" in uses:
                db = svc.get("database", pdata.get("database"))
                if not db:
                    raise _err(
                        f"{sw}.uses: postgres, but {where}.database is not set: the service references "
                        "an undefined database. Set the platform's database or drop 'postgres'."
                    )
                if databases and db not in databases:
                    raise _err(
                        f"{sw}: references database {db!r}, which the data layer does not define "
                        f"(known: {', '.join(sorted(databases))})."
                    )
            if "redis" in uses:
                user = svc.get("redis_user", pname)
                if not pdata.get("redis_prefix"):
                    raise _err(
                        f"{sw}.uses: redis, but {where}.redis_prefix is not set: the service references "
                        "an undefined Redis user. Set the platform's redis_prefix or drop 'redis'."
                    )
                if redis_users and user not in redis_users:
                    raise _err(
                        f"{sw}: references Redis user {user!r}, which the data layer does not define "
                        f"(known: {', '.join(sorted(redis_users))})."
                    )
            if "temporal" in uses and not pdata.get("temporal_namespace"):
                raise _err(
                    f"{sw}.uses: temporal, but {where}.temporal_namespace is empty: set the namespace "
                    "or drop 'temporal'."
                )
    if service_bounds:
        errors = service_number_errors(platforms, enabled, service_bounds, service_defaults, overrides)
        if errors:
            raise _err(" | ".join(errors))
    if secrets is not None:
        for pname in chosen:
            for kind in required_secrets(platforms[pname] or {}):
                value = ((secrets or {}).get(pname) or {}).get(kind)
                if not isinstance(value, str) or not value:
                    var = ((secret_vars or {}).get(pname) or {}).get(kind, f"the {kind} secret")
                    raise _err(
                        f"{var} is missing from the vault, and platform {pname} needs it (its services use "
                        f"{kind}). Add it with `ansible-vault edit inventories/<env>/group_vars/all/vault.yml` "
                        "(or generate a vault with `make secrets ENV=<env>`), or disable the platform."
                    )
    return chosen


def service_number_errors(
    platforms: Mapping[str, Any],
    names: Sequence[str],
    bounds: Mapping[str, Any],
    defaults: Any = None,
    overrides: Any = None,
) -> list[str]:
    """The per-service numbers (replicas, cpus, memory, ...) outside ``bounds``, wherever they are set
    (platform_stack_service_defaults, each service's data, bizosaas_platform_overrides), and each
    service whose memory reservation is above its limit. Messages name the variable to fix."""
    specs: dict[str, Any] = {}
    values: dict[str, Any] = {}

    def collect(where: str, source: Any) -> None:
        for key, spec in bounds.items():
            if isinstance(source, Mapping) and key in source:
                specs[f"{where}.{key}"], values[f"{where}.{key}"] = spec, source[key]

    defaults = defaults if isinstance(defaults, Mapping) else {}
    collect("platform_stack_service_defaults", defaults)
    effective: dict[str, dict[str, Any]] = {}
    for pname in names:
        services = (platforms[pname] or {}).get("services") or {}
        ovs = ((overrides or {}).get(pname) or {}) if isinstance(overrides, Mapping) else {}
        for target, ov in ovs.items():
            collect(f"bizosaas_platform_overrides.{pname}.{target}", ov)
        for sname, svc in services.items():
            collect(f"bizosaas_platforms.{pname}.services.{sname}", svc)
            star = ovs.get("*") if isinstance(ovs.get("*"), Mapping) else {}
            own = ovs.get(sname) if isinstance(ovs.get(sname), Mapping) else {}
            effective[f"{pname}/{sname}"] = {**defaults, **svc, **star, **own}
    errors = bounds_errors(specs, values)
    if errors or "memory" not in bounds or "reserve_memory" not in bounds:
        return errors
    for where, svc in effective.items():
        limit, reserve = svc.get("memory"), svc.get("reserve_memory")
        if limit is None or reserve is None:
            continue
        if parse_size(reserve) > parse_size(limit):
            pname, sname = where.split("/", 1)
            errors.append(
                f"bizosaas_platforms.{pname}.services.{sname}: reserve_memory {reserve} is above its memory limit "
                f"{limit}, which Docker refuses; lower the reservation or raise the limit (in bizosaas_platforms, "
                "bizosaas_platform_overrides or platform_stack_service_defaults)"
            )
    return errors


def secret_vars(platforms: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{platform: {kind: vault variable}} for every platform, following the data glue's names
    (group_vars/all/data.yml): vault_postgres_<owner>_password, vault_redis_<platform>_password,
    vault_postgres_analytics_password; an app secret named in env_from_secrets is vault_<platform>_<name>."""
    out: dict[str, dict[str, str]] = {}
    for pname, pdata in (platforms or {}).items():
        pdata = pdata or {}
        names = {
            "postgres": f"vault_postgres_{pdata.get('owner', pname)}_password",
            "redis": f"vault_redis_{pname}_password",
            "analytics": "vault_postgres_analytics_password",
        }
        out[pname] = {k: names.get(k) or app_secret_var(pname, k) for k in required_secrets(pdata)}
    return out


def secret_name(platform: str, kind: str, value: str, length: int = 10) -> str:
    """A versioned docker secret name: a new value gives a new name, so rotation rolls the services
    (docker secrets are immutable). The suffix hashes the name with the value; it reveals nothing
    usable about a strong secret."""
    if not isinstance(value, str) or not value:
        raise _err(f"secret {platform}/{kind}: empty value")
    digest = hashlib.sha256(f"{platform}\0{kind}\0{value}".encode()).hexdigest()[:length]
    return f"{platform}_{kind}_{digest}"


def secret_names(values: dict[str, str], platform: str) -> dict[str, str]:
    """{kind: value} -> {kind: versioned docker secret name}."""
    return {kind: secret_name(platform, kind, value) for kind, value in (values or {}).items()}


def _analytics_databases(ctx: dict[str, Any], name: str) -> list[str]:
    if ctx.get("analytics_databases") is not None:
        return list(ctx["analytics_databases"])
    return [
        d["database"]
        for p, d in (ctx.get("all_platforms") or {}).items()
        if p != name and (d or {}).get("enabled", True) and (d or {}).get("database")
    ]


def _image_argv(config: Any) -> tuple[list[str], list[str]]:
    """(Entrypoint, Cmd) of an image config ({entrypoint, cmd} as docker image inspect gives them)."""
    config = config if isinstance(config, Mapping) else {}
    return list(config.get("entrypoint") or []), list(config.get("cmd") or [])


def platform_services(platform: dict[str, Any], name: str, ctx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Everything the stack template (and the migration job) needs per service, from the platform data.

    Networks: every service joins private_network; routed services (with hosts) also join
    edge_network, the platform's own edge overlay that Traefik joins (never the edge network Dokploy
    uses). No service joins the data services' own network: Postgres, Redis and the platform's
    Temporal join private_network instead, so no network holds two platforms' services.

    The env shim: a service with env_from_secrets runs `/bin/sh <SHIM_TARGET>` (a docker config) as its
    entrypoint, with the image's own entrypoint and command (or the service's `command`) as arguments;
    the shim builds the variables from the secret files, then execs them. Its health check runs
    through the shim too. That needs the image's entrypoint and command: ctx image_configs
    ({image: {entrypoint, cmd}}, read from the pulled image); None = not known yet (the first pass,
    or check mode on a host without the image): the command is then left as a placeholder.

    ctx keys: registry, edge_network, private_network, postgres_host, postgres_port,
    redis_host, redis_port, temporal_address, analytics_role, analytics_databases, secret_names
    ({kind: docker secret name}), overrides ({service | '*': {image, env, replicas, cpus, memory,
    healthcheck, health, port, command, migrate}}), defaults ({replicas, cpus, memory, healthcheck,
    reservations...}), pins ({service: image reference pinned by digest, used by rollback}),
    shim_config (the docker config holding the shim), image_configs, volume_placement (placement
    constraints of a service with volumes).
    """
    out: dict[str, dict[str, Any]] = {}
    overrides = ctx.get("overrides") or {}
    defaults = ctx.get("defaults") or {}
    pins = ctx.get("pins") or {}
    secret_names = ctx.get("secret_names") or {}
    image_configs = ctx.get("image_configs")
    for sname, svc in (platform.get("services") or {}).items():
        star, spec = overrides.get("*") or {}, overrides.get(sname) or {}
        ov = {**star, **spec, "env": {**(star.get("env") or {}), **(spec.get("env") or {})}}
        uses = svc.get("uses") or []
        hosts = svc.get("hosts") or []
        sw = f"bizosaas_platforms.{name}.services.{sname}"
        image = pins.get(sname) or ov.get("image") or svc["image"]
        image = image_ref(image, ctx.get("registry") or "", f"{sw}.image")
        port = ov.get("port", svc.get("port"))
        port = int(port) if port is not None else None
        networks = [ctx["private_network"]]
        if hosts:
            networks.append(ctx["edge_network"])
        env: dict[str, str] = {
            "BIZOSAAS_PLATFORM": name,
            "PLATFORM": name,
            "SERVICE_NAME": sname,
        }
        if port is not None:
            env["PORT"] = str(port)
        secrets: list[dict[str, str]] = []

        def mount(kind: str, target: str = "", secrets: list[dict[str, str]] = secrets, where: str = sw) -> str:
            if kind not in secret_names:
                raise _err(f"{where}: needs the {kind} secret of platform {name}, which was not created")
            target = target or f"{kind}_password"
            if not any(s["target"] == target for s in secrets):
                secrets.append({"source": secret_names[kind], "target": target})
            return f"/run/secrets/{target}"

        if "postgres" in uses or "analytics" in uses:
            env.update(
                {
                    "PGHOST": str(ctx["postgres_host"]),
                    "PGPORT": str(ctx.get("postgres_port", 5432)),
                    "PGDATABASE": str(svc.get("database", platform.get("database"))),
                    "PGUSER": str(svc.get("database_user", platform.get("owner", name))),
                    "PGPASSWORD_FILE": mount("postgres"),
                    "PGCONNECT_TIMEOUT": "5",
                }
            )
        if "analytics" in uses:
            env.update(
                {
                    "ANALYTICS_PGUSER": str(ctx["analytics_role"]),
                    "ANALYTICS_PGPASSWORD_FILE": mount("analytics"),
                    "ANALYTICS_DATABASES": ",".join(_analytics_databases(ctx, name)),
                }
            )
        if "redis" in uses:
            env.update(
                {
                    "REDIS_HOST": str(ctx["redis_host"]),
                    "REDIS_PORT": str(ctx.get("redis_port", 6379)),
                    "REDIS_USER": str(svc.get("redis_user", name)),
                    "REDIS_PASSWORD_FILE": mount("redis"),
                    "REDIS_PREFIX": str(platform.get("redis_prefix", "")),
                }
            )
        if "temporal" in uses:
            env.update(
                {
                    "TEMPORAL_ADDRESS": str(ctx["temporal_address"]),
                    "TEMPORAL_NAMESPACE": str(platform.get("temporal_namespace", "")),
                }
            )
        # env_from_secrets: the app secrets are mounted at /run/secrets/<name>; the shim reads the list.
        shim_items = []
        for var, source, kind in env_from_secrets_spec(name, platform, sname, svc, uses):
            if source.startswith("secret:") and kind not in RAW_SOURCES:
                mount(kind, kind)
            shim_items.append(f"{var}={source}")
        shim = bool(shim_items)
        if shim:
            env["BIZOSAAS_ENV_FROM_SECRETS"] = " ".join(shim_items)
        env.update({k: str(v) for k, v in (svc.get("env") or {}).items()})
        env.update({k: str(v) for k, v in (ov.get("env") or {}).items()})

        health_cmd, health_path = effective_health(_layers(svc, defaults, star, spec), sw)
        if health_cmd:
            health = [str(x).replace("{port}", str(port)) for x in health_cmd]
        elif health_path and port is not None:
            health = default_health_command(port, health_path)
        else:
            raise _err(f"{sw}: no health check (set health or healthcheck)")
        command = ov["command"] if "command" in ov else svc.get("command")
        command = list(command) if command else None
        migrate = ov["migrate"] if "migrate" in ov else svc.get("migrate")
        migrate = list(migrate) if migrate else None

        configs: list[dict[str, str]] = []
        entrypoint = None
        needs_config = shim
        known = image_configs is not None and image in image_configs
        if shim:
            if not ctx.get("shim_config"):
                raise _err(f"{sw}: env_from_secrets needs the env shim's docker config, which was not created")
            configs.append({"source": str(ctx["shim_config"]), "target": SHIM_TARGET})
            entrypoint = [SHIM_SHELL, SHIM_TARGET]
            if image_configs is not None and not known:
                raise _err(f"{sw}: the entrypoint and command of {image} are unknown (the image was not pulled)")
            image_entry, image_cmd = _image_argv(image_configs.get(image) if known else None)
            command = image_entry + (command or image_cmd) if known else (command or [])
            if health[0] == "CMD":
                health = ["CMD", SHIM_SHELL, SHIM_TARGET, *health[1:]]
            else:
                health = ["CMD", SHIM_SHELL, SHIM_TARGET, SHIM_SHELL, "-c", health[1]]
        job = None
        if migrate:
            # The one-shot job before the rollout: the new image, the service's environment, secrets and
            # the platform's private overlay; through the shim like the service itself.
            image_entry = _image_argv(image_configs.get(image) if known else None)[0]
            job = {
                "entrypoint": [SHIM_SHELL, SHIM_TARGET] if shim else None,
                "args": (image_entry + migrate) if shim else migrate,
                "networks": [ctx["private_network"]],
                # the command's identity: the service carries it as a label, so a new or changed
                # `migrate` runs once even when the image stays the same
                "id": hashlib.sha256(json.dumps(migrate).encode()).hexdigest()[:12],
            }
        vols = service_volumes(name, sname, svc)
        out[sname] = {
            "image": image,
            "port": port,
            "hosts": hosts,
            "routed": bool(hosts),
            "networks": networks,
            "secrets": secrets,
            "configs": configs,
            "env": dict(sorted(env.items())),
            "healthcheck": health,
            "entrypoint": entrypoint,
            "command": command,
            "shim": shim,
            "needs_image_config": needs_config,
            "migrate": job,
            "volumes": vols,
            "placement": list(ctx.get("volume_placement") or []) if vols else [],
            "replicas": int(ov.get("replicas", svc.get("replicas", defaults.get("replicas", 1)))),
            "cpus": str(ov.get("cpus", svc.get("cpus", defaults.get("cpus", "0.5")))),
            "memory": str(ov.get("memory", svc.get("memory", defaults.get("memory", "256M")))),
            "reserve_memory": str(
                ov.get("reserve_memory", svc.get("reserve_memory", defaults.get("reserve_memory", "32M")))
            ),
            "cap_add": service_cap_add(ov.get("cap_add", svc.get("cap_add")), sw),
        }
    return out


def platform_volumes(services: Mapping[str, Any], platform: str) -> list[dict[str, Any]]:
    """The platform's volumes from platform_services' result: [{name, backup, services, labels}],
    with the labels the role puts on each Docker volume (org.bizosaas.backup=true|false marks it for
    the backup role)."""
    vols: dict[str, dict[str, Any]] = {}
    for sname, svc in services.items():
        for v in svc.get("volumes") or []:
            entry = vols.setdefault(v["name"], {"name": v["name"], "backup": False, "services": []})
            entry["backup"] = entry["backup"] or bool(v.get("backup", True))
            entry["services"].append(sname)
    for entry in vols.values():
        entry["labels"] = {
            "org.bizosaas.platform": platform,
            "org.bizosaas.services": ",".join(entry["services"]),
            "org.bizosaas.backup": "true" if entry["backup"] else "false",
        }
    return [vols[k] for k in sorted(vols)]


def migration_jobs(services: Mapping[str, Any], platform: str, stack: str) -> list[dict[str, Any]]:
    """What files/migrate.py needs for each service that declares `migrate` (no secret values: the
    secrets are referenced by their docker secret names)."""
    jobs = []
    for sname, svc in services.items():
        job = svc.get("migrate")
        if not job:
            continue
        jobs.append({
            "platform": platform,
            "stack": stack,
            "service": sname,
            "image": svc["image"],
            "entrypoint": job["entrypoint"],
            "args": job["args"],
            "id": job["id"],
            "env": svc["env"],
            "networks": job["networks"],
            "secrets": svc["secrets"],
            "configs": svc["configs"],
            "cpus": svc["cpus"],
            "memory": svc["memory"],
            "cap_add": svc.get("cap_add", []),
        })
    return jobs


def platform_domains(platforms: dict[str, Any], selection: Any = None) -> list[dict[str, Any]]:
    """[{platform, service, host, port}] for every routed host of the selected platforms, sorted."""
    rows = []
    for pname in selected_platforms(platforms, selection):
        for sname, svc in ((platforms[pname] or {}).get("services") or {}).items():
            for h in svc.get("hosts") or []:
                rows.append({"platform": pname, "service": sname, "host": h, "port": svc.get("port")})
    return sorted(rows, key=lambda r: (r["platform"], r["host"]))


def gate_check(database: dict[str, Any], passwords: dict[str, str]) -> dict[str, Any]:
    """A psql check: the database's owner connects to it (phase 1 gate)."""
    owner = database.get("owner")
    return {
        "label": f"{owner} -> {database.get('name')}",
        "user": owner,
        "password": (passwords or {}).get(owner, ""),
        "database": database.get("name"),
        "expect": "ok",
    }


def separation_checks(
    platforms: dict[str, Any], selected: list[str], passwords: dict[str, str], names: list[str] | None = None
) -> list[dict[str, Any]]:
    """psql checks: each platform's owner reaches its own database and is refused every other one."""
    chosen = [p for p in (names or selected) if p in selected and (platforms[p] or {}).get("database")]
    checks = []
    for a in chosen:
        owner = platforms[a].get("owner", a)
        for b in chosen:
            checks.append(
                {
                    "label": f"{owner} -> {platforms[b]['database']}",
                    "user": owner,
                    "password": (passwords or {}).get(owner, ""),
                    "database": platforms[b]["database"],
                    "expect": "ok" if a == b else "refused",
                }
            )
    return checks


def analytics_checks(platforms: dict[str, Any], selected: list[str], role: str, password: str) -> list[dict[str, Any]]:
    """psql checks: the analytics role reads every platform database and cannot write to any."""
    checks = []
    for p in selected:
        db = (platforms[p] or {}).get("database")
        if not db:
            continue
        base = {"user": role, "password": password or "", "database": db}
        checks.append(
            {
                **base,
                "label": f"{role} reads {db}",
                "expect": "ok",
                "sql": "SELECT count(*) FROM information_schema.tables",
            }
        )
        checks.append(
            {
                **base,
                "label": f"{role} cannot write {db}",
                "expect": "refused",
                "sql": "CREATE TABLE public.bizosaas_gate_write_probe (x int)",
            }
        )
    return checks


def history_entries(text: str, platform: str = "") -> list[dict[str, Any]]:
    """Parse the JSON-lines deploy history (oldest first), optionally for one platform."""
    import json

    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not platform or rec.get("platform") == platform:
            out.append(rec)
    return out


def history_line(rec: Mapping[str, Any]) -> str:
    """One history record as a line: time platform action result commit operator images."""
    images = ", ".join(f"{k}={str(v).rsplit('/', 1)[-1][:40]}" for k, v in sorted((rec.get("images") or {}).items()))
    migrations = "; ".join(
        f"migrate {m.get('service', '?')} {m.get('result', '?')} {m.get('seconds', '?')}s"
        for m in rec.get("migrations") or [] if isinstance(m, Mapping)
    )
    return (
        f"{rec.get('time', '?')} {rec.get('platform', '?'):11} {rec.get('action', 'deploy'):8} "
        f"{rec.get('result', '?'):11} commit={rec.get('commit', '?')} by={rec.get('operator', '?')} {images}"
        + (f" [{migrations}]" if migrations else "")
    )


def rollback_target(text: str, platform: str, current: Mapping[str, Any]) -> dict[str, str]:
    """The image set to return to: the newest successful deploy of `platform` whose images differ
    from what runs now (`current`: {service: image}). Raises when the history has none."""
    now = {k: str(v) for k, v in (current or {}).items()}
    for rec in reversed(history_entries(text, platform)):
        images = {k: str(v) for k, v in (rec.get("images") or {}).items()}
        if rec.get("result") == "ok" and images and images != now:
            return images
    raise _err(
        f"platform={platform}: the deploy history has no earlier successful image set to roll back to "
        "(see `make history`). Nothing was changed."
    )


_TASK = re.compile(r"^TASK \[(?:(?P<role>[\w.]+) : )?(?P<name>.*?)\] \**$")
_RESULT = re.compile(r"^(?P<status>ok|changed|skipping|failed|fatal): \[(?P<host>[^\]]+)")


def plan_summary(stdout: str) -> dict[str, Any]:
    """Summarise `ansible-playbook --check --diff` output (default callback) per role:
    {roles: {role: {tasks, changed: [task names]}}, lines: [...], diffs: [...]}."""
    roles: dict[str, dict[str, Any]] = {}
    diffs: list[str] = []
    role, name, block = "(playbook)", "", []
    for line in (stdout or "").splitlines():
        m = _TASK.match(line)
        if m:
            role, name, block = m.group("role") or "(playbook)", m.group("name"), []
            roles.setdefault(role, {"tasks": 0, "changed": []})["tasks"] += 1
            continue
        r = _RESULT.match(line)
        if r and r.group("status") == "changed" and name:
            entry = roles.setdefault(role, {"tasks": 0, "changed": []})
            if name not in entry["changed"]:
                entry["changed"].append(name)
                if block:
                    diffs.append(f"{role} : {name}\n" + "\n".join(block[-40:]))
        elif line.startswith(("--- ", "+++ ", "@@", "+", "-")) and name:
            block.append(line)
    lines = [
        f"{role:16} {len(v['changed']):3} to change / {v['tasks']:3} tasks"
        + (": " + "; ".join(v["changed"]) if v["changed"] else "")
        for role, v in roles.items()
    ]
    total = sum(len(v["changed"]) for v in roles.values())
    lines.append(f"{'total':16} {total:3} task(s) would change")
    return {"roles": roles, "lines": lines, "diffs": diffs}


# curl exit codes -> the likely cause, for the post-deploy self-check
_CURL_CAUSE = {
    6: ("DNS", "the name does not resolve"),
    7: ("firewall", "nothing accepts connections on 443 (Traefik down, or the firewall drops it)"),
    28: ("firewall", "the connection timed out (a firewall or security group is dropping 443)"),
    35: ("certificate", "the TLS handshake failed (no certificate for this name yet?)"),
    51: ("certificate", "the certificate does not match the host name"),
    58: ("certificate", "the client certificate setup is wrong"),
    60: ("certificate", "the certificate is not trusted (self-signed, expired or ACME staging)"),
}


def selfcheck_results(
    probes: list[dict[str, Any]],
    status: dict[str, Any] | None = None,
    dns: list[dict[str, Any]] | None = None,
    external: list[dict[str, Any]] | None = None,
    expected_ips: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Zip the registered loop results of the self-check tasks into selfcheck_diagnose's input."""
    services = (status or {}).get("services") or {}
    out = []
    for i, p in enumerate(probes or []):
        item = p.get("item") or {}
        row: dict[str, Any] = {
            "host": item.get("host"),
            "rc": p.get("rc", 0),
            "http": p.get("stdout", ""),
            "replicas": (services.get(item.get("service")) or {}).get("replicas", ""),
            "expected_ips": expected_ips or [],
        }
        if dns:
            lines = (dns[i].get("stdout") or "").splitlines()
            row["dns"] = sorted({ln.split()[0] for ln in lines if ln.strip()})
        if external:
            row["external_rc"] = external[i].get("rc", 0)
        out.append(row)
    return out


def selfcheck_diagnose(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn self-check probes into verdicts.

    Each result: {host, rc (curl exit code), http (status code as str/int), dns (list of
    addresses the host resolves to, or None when DNS is not checked), expected_ips (host's
    addresses), replicas ('running/desired' of the service, optional)}.
    Returns [{host, ok, status, cause, detail}].
    """
    out = []
    for r in results:
        host = r.get("host")
        rc = int(r.get("rc", 0) or 0)
        try:
            code = int(str(r.get("http", "0")).strip() or 0)
        except ValueError:
            code = 0
        cause, detail = "", ""
        dns = r.get("dns")
        expected = set(r.get("expected_ips") or [])
        replicas = str(r.get("replicas") or "")
        if dns is not None and not dns:
            cause, detail = "DNS", f"{host} does not resolve; add an A record pointing at this VPS"
        elif dns is not None and expected and not (set(dns) & expected):
            ips = ", ".join(sorted(expected))
            cause, detail = "DNS", f"{host} resolves to {', '.join(dns)}, not to this VPS ({ips})"
        elif rc == 0 and 200 <= code < 300 and r.get("external_rc") not in (None, 0):
            cause, detail = (
                "firewall",
                (
                    f"{host} answers on the host but not from outside (curl exit {r['external_rc']}): "
                    "open 443 in the firewall / the provider's security group"
                ),
            )
        elif rc in _CURL_CAUSE:
            cause, detail = _CURL_CAUSE[rc]
        elif rc != 0:
            cause, detail = "network", f"curl failed with exit code {rc}"
        elif code in (502, 503, 504):
            cause, detail = "unhealthy service", f"Traefik answered {code}: no healthy task behind {host}"
        elif code == 404:
            cause, detail = "routing", f"Traefik has no router for {host} (service down or labels missing)"
        elif not 200 <= code < 300:
            cause, detail = "service", f"the service answered HTTP {code}"
        if cause and replicas and "/" in replicas:
            running, desired = replicas.split("/", 1)
            if running != desired and cause not in ("DNS",):
                cause, detail = "unhealthy service", f"{detail}; the service runs {replicas} replicas"
        out.append({"host": host, "ok": not cause, "status": code, "cause": cause, "detail": detail})
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "platforms_validate": platforms_validate,
            "platforms_selected": selected_platforms,
            "platform_dokploy_project": dokploy_project_name,
            "platform_dokploy_projects": dokploy_projects,
            "platform_required_secrets": required_secrets,
            "platform_secret_name": secret_name,
            "platform_secret_vars": secret_vars,
            "platform_secret_names": secret_names,
            "platform_services": platform_services,
            "platform_volumes": platform_volumes,
            "platform_migration_jobs": migration_jobs,
            "platform_vault_names": vault_names,
            "platform_domains": platform_domains,
            "platform_selfcheck_diagnose": selfcheck_diagnose,
            "platform_selfcheck_results": selfcheck_results,
            "platform_gate_check": gate_check,
            "platform_history_entries": history_entries,
            "platform_plan_summary": plan_summary,
            "platform_history_line": history_line,
            "platform_rollback_target": rollback_target,
            "platform_separation_checks": separation_checks,
            "platform_analytics_checks": analytics_checks,
            "bizosaas_domain_check": check_domain,
        }
