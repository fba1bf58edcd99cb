"""Filters for the shared data services (postgres, redis, temporal roles and their glue).

Pure functions: derive the roles' plain lists from ``bizosaas_platforms``, check those lists
(returning human-readable errors that name the variable to fix), tune Postgres from the host's
memory, compute SCRAM-SHA-256 verifiers controller-side, and render the Redis ACL file with
SHA-256 password hashes only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stringprep
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

try:  # the collection's own bounds filter (bizosaas.ops.bounds_errors)
    from ansible_collections.bizosaas.ops.plugins.filter.inputs import bounds_errors
except ImportError:  # pragma: no cover - only when loaded outside the collection
    from .inputs import bounds_errors  # type: ignore[no-redef]

DOCUMENTATION = r"""
name: data
short_description: Data-service filters (derive, validate, tune, hash)
description:
  - C(platform_databases), C(platform_redis_users), C(platform_namespaces) derive the roles' lists
    from C(bizosaas_platforms).
  - C(secret_entries) attaches passwords (from the vault) to names.
  - C(postgres_input_errors), C(redis_input_errors), C(temporal_input_errors) return a list of
    errors, each naming the variable to fix; empty when the input is valid.
  - C(pg_tuning) computes memory settings from C(memtotal_mb).
  - C(scram_sha256) returns a PostgreSQL SCRAM-SHA-256 verifier; the salt is derived from the role
    and password with PBKDF2, so reruns are idempotent; a current verifier that already matches the
    password is returned unchanged.
  - C(redis_acl) renders a Redis ACL file with C(#<sha256>) password hashes; every platform user is
    denied the keyless commands that read or count names outside its prefix (C(REDIS_DENIED_COMMANDS)),
    unless its C(unsafe_commands) opts back into some of them (C(redis_unsafe_warnings) names the cost).
  - C(data_network_errors) and C(data_network_engine_errors) check the networks a data service joins,
    as given and as found on the engine.
  - C(postgres_schema_errors) checks the schema each database publishes for the read-only roles.
"""

IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_DBS = {"postgres", "template0", "template1"}
RESERVED_ROLES = {"postgres", "public", "none", "current_user", "session_user", "current_role"}
REDIS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
REDIS_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")
DOCKER_NETWORK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SCRAM = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")


def _need_mapping(value: Any, name: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{name} must be a mapping, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# derive
# ---------------------------------------------------------------------------------------------
def platform_databases(platforms: Mapping, shared: Sequence | None = None) -> list[dict]:
    """One database per enabled platform (owner = platform name unless it sets ``owner``), plus
    the shared databases. Databases of ``shared`` that have the same owner may share it."""
    platforms = _need_mapping(platforms, "bizosaas_platforms")
    out: list[dict] = []
    for pname, p in platforms.items():
        p = _need_mapping(p, f"bizosaas_platforms.{pname}")
        if not p.get("enabled", True) or not p.get("database"):
            continue
        out.append({
            "name": p["database"],
            "owner": p.get("owner", pname),
            "extensions": list(p.get("extensions") or []),
            "allow_shared_owner": bool(p.get("allow_shared_owner", False)),
            "readonly_access": True,
            "source": f"bizosaas_platforms.{pname}.database",
        })
    for i, d in enumerate(shared or []):
        d = _need_mapping(d, f"bizosaas_shared_databases[{i}]")
        owners = [x.get("owner") for x in shared or [] if isinstance(x, Mapping)]
        out.append({
            "name": d.get("name"),
            "owner": d.get("owner"),
            "extensions": list(d.get("extensions") or []),
            # shared databases of one owner (temporal_system + temporal_visibility) may share it
            "allow_shared_owner": bool(d.get("allow_shared_owner", owners.count(d.get("owner")) > 1)),
            "readonly_access": bool(d.get("readonly_access", False)),
            "source": f"bizosaas_shared_databases[{i}].name",
        })
    return out


def platform_redis_users(platforms: Mapping) -> list[dict]:
    """One ACL user per enabled platform with a ``redis_prefix``; ``redis_unsafe_commands`` (default
    none) are the denied commands the platform opts back into (see REDIS_DENIED_COMMANDS)."""
    platforms = _need_mapping(platforms, "bizosaas_platforms")
    return [
        {"name": pname, "prefix": p.get("redis_prefix", ""), "source": f"bizosaas_platforms.{pname}.redis_prefix",
         "unsafe_commands": list(p.get("redis_unsafe_commands") or [])}
        for pname, p in platforms.items()
        if p.get("enabled", True) and p.get("redis_prefix") is not None
    ]


def platform_namespaces(platforms: Mapping) -> list[dict]:
    platforms = _need_mapping(platforms, "bizosaas_platforms")
    return [
        {"name": p["temporal_namespace"], "platform": pname}
        for pname, p in platforms.items()
        if p.get("enabled", True) and p.get("temporal_namespace")
    ]


def secret_var_names(names: Sequence, kind: str) -> list[str]:
    """``['bizoholic']``, ``'postgres'`` -> ``['vault_postgres_bizoholic_password']``."""
    if not re.match(r"^[a-z][a-z0-9_]*$", str(kind)):
        raise AnsibleFilterError(f"secret_var_names: {kind!r} is not a valid kind")
    return [f"vault_{kind}_{n.get('name') if isinstance(n, Mapping) else n}_password" for n in names or []]


def secret_entries(entries: Sequence, values: Sequence, kind: str) -> list[dict]:
    """Zip names (or dicts with ``name``) with their secrets, recording the vault variable each
    value came from (``vault_<kind>_<name>_password``) for error messages."""
    entries, values = list(entries or []), list(values or [])
    if len(entries) != len(values):
        raise AnsibleFilterError(f"secret_entries: {len(entries)} names but {len(values)} values")
    out = []
    for e, v, var in zip(entries, values, secret_var_names(entries, kind), strict=True):
        item = dict(e) if isinstance(e, Mapping) else {"name": e}
        item["password"] = "" if v is None else str(v)
        item["password_var"] = var
        out.append(item)
    return out


def unique_by(items: Sequence, key: str = "name") -> list[dict]:
    """Keep the first item of each ``key`` value (owners of several databases -> one role)."""
    seen: set = set()
    out = []
    for it in items or []:
        if it.get(key) not in seen:
            seen.add(it.get(key))
            out.append(it)
    return out


# ---------------------------------------------------------------------------------------------
# validate: each returns a list of errors naming the variable to fix
# ---------------------------------------------------------------------------------------------
def _where(item: Mapping, var: str, i: int, field: str = "name") -> str:
    return f"{var}[{i}].{field}" + (f" (from {item['source']})" if item.get("source") else "")


def postgres_input_errors(databases: Sequence, users: Sequence, readonly_roles: Sequence | None = None) -> list[str]:
    errs: list[str] = []
    names: dict[str, str] = {}
    owners: dict[str, list[int]] = {}
    for i, d in enumerate(databases or []):
        if not isinstance(d, Mapping):
            errs.append(f"postgres_databases[{i}] must be a mapping with name and owner")
            continue
        name, owner = d.get("name"), d.get("owner")
        where = _where(d, "postgres_databases", i)
        if not isinstance(name, str) or not IDENT.match(name) or name in RESERVED_DBS:
            errs.append(f"{where}: {name!r} is not a valid database identifier (lowercase letters, digits and _, "
                        "starting with a letter or _, at most 63 characters; not postgres/template0/template1)")
        elif name in names:
            errs.append(f"{where}: duplicate database name {name!r} (also {names[name]})")
        else:
            names[name] = where
        if not isinstance(owner, str) or not IDENT.match(owner) or owner in RESERVED_ROLES or owner.startswith("pg_"):
            errs.append(f"{_where(d, 'postgres_databases', i, 'owner')}: {owner!r} is not a valid role identifier")
        else:
            owners.setdefault(owner, []).append(i)
        for ext in d.get("extensions") or []:
            if not isinstance(ext, str) or not re.match(r"^[a-z_][a-z0-9_-]{0,62}$", ext):
                where_ext = _where(d, "postgres_databases", i, "extensions")
                errs.append(f"{where_ext}: {ext!r} is not a valid extension name")
    for owner, idx in owners.items():
        if len(idx) > 1 and not all(databases[i].get("allow_shared_owner") for i in idx):
            dbs = ", ".join(f"{databases[i].get('name')} ({databases[i].get('source', 'postgres_databases')})"
                            for i in idx)
            errs.append(f"postgres_databases: owner role {owner!r} is shared by {dbs}; give each platform its own "
                        "owner, or set allow_shared_owner: true on every database that shares it")
    user_names = set()
    for i, u in enumerate(users or []):
        label = u.get("password_var") or f"postgres_users[{i}].password"
        user_names.add(u.get("name"))
        if not u.get("password"):
            errs.append(f"{label} is missing or empty: the password of Postgres role {u.get('name')!r} comes from the "
                        f"vault (postgres_users[{i}].password)")
    for owner in owners:
        if owner not in user_names:
            errs.append(f"postgres_users: no entry (and no password) for owner role {owner!r}")
    for i, r in enumerate(readonly_roles or []):
        name = r.get("name")
        if not isinstance(name, str) or not IDENT.match(name) or name in owners:
            errs.append(f"postgres_readonly_roles[{i}].name: {name!r} is not a valid role identifier distinct from "
                        "every owner role")
        if not r.get("password"):
            errs.append(f"{r.get('password_var') or f'postgres_readonly_roles[{i}].password'} is missing or empty: the "
                        f"password of read-only role {name!r} comes from the vault")
        for db in r.get("databases") or []:
            if db not in names:
                errs.append(f"postgres_readonly_roles[{i}].databases: {db!r} is not in postgres_databases")
    return errs


def redis_input_errors(users: Sequence, default_password: str = "", default_password_var: str = "") -> list[str]:
    errs: list[str] = []
    if not default_password:
        errs.append(f"{default_password_var or 'redis_default_password'} is missing or empty: the Redis default "
                    "(admin) user needs a password, unauthenticated access is never allowed")
    seen: dict[str, int] = {}
    prefixes: list[tuple[str, str]] = []
    for i, u in enumerate(users or []):
        name, prefix = u.get("name"), u.get("prefix")
        where = f"redis_users[{i}]" + (f" (from {u['source']})" if u.get("source") else "")
        if not isinstance(name, str) or not REDIS_NAME.match(name) or name == "default":
            errs.append(f"{where}.name: {name!r} is not a valid ACL user name")
        elif name in seen:
            errs.append(f"{where}.name: duplicate Redis user {name!r}")
        else:
            seen[name] = i
        if not isinstance(prefix, str) or not REDIS_PREFIX.match(prefix):
            errs.append(f"{where}.prefix: {prefix!r} is not a valid key prefix (letters, digits, _ . : -; no glob "
                        "characters)")
        else:
            for other_name, other in prefixes:
                if prefix.startswith(other) or other.startswith(prefix):
                    errs.append(f"{where}.prefix: key prefix {prefix!r} of {name!r} overlaps {other!r} of "
                                f"{other_name!r}: one user could read the other's keys")
            prefixes.append((str(name), prefix))
        if not u.get("password"):
            errs.append(f"{u.get('password_var') or f'redis_users[{i}].password'} is missing or empty: the password "
                        f"of Redis user {name!r} comes from the vault")
        unsafe = u.get("unsafe_commands") or []
        if not isinstance(unsafe, list) or any(c not in REDIS_DENIED_COMMANDS for c in unsafe):
            bad = unsafe if not isinstance(unsafe, list) else [c for c in unsafe if c not in REDIS_DENIED_COMMANDS]
            errs.append(f"redis_users[{i}].unsafe_commands (bizosaas_platforms.{name}.redis_unsafe_commands): {bad!r} "
                        f"is not a list of commands denied to platform users; only these can be allowed back: "
                        f"{', '.join(REDIS_DENIED_COMMANDS)}")
    return errs


def data_network_errors(networks: Any, var: str) -> list[str]:
    """The networks a data service joins, as given: a non-empty list of unique Docker network names."""
    fix = (f"set {var} to the data network followed by every platform's private overlay "
           f"([bizosaas_data_network] + bizosaas_platform_networks, group_vars/all/data.yml)")
    if not isinstance(networks, list) or not networks:
        return [f"{var} is {networks!r}: the service would join no network and no platform could reach it; {fix}"]
    errs = []
    for i, n in enumerate(networks):
        if not isinstance(n, str) or not DOCKER_NETWORK.match(n):
            errs.append(f"{var}[{i}]: {n!r} is not a Docker network name; {fix}")
    dupes = sorted({n for n in networks if isinstance(n, str) and networks.count(n) > 1})
    if dupes:
        errs.append(f"{var}: {', '.join(dupes)} listed more than once")
    return errs


def data_network_engine_errors(networks: Sequence, engine_networks: Sequence, var: str) -> list[str]:
    """The wanted networks that the engine lacks, or has as something other than a swarm overlay.

    ``engine_networks`` is docker_host_info's ``networks`` list (Name, Driver, Scope)."""
    found = {n.get("Name"): n for n in engine_networks or [] if isinstance(n, Mapping)}
    errs = []
    for n in networks or []:
        net = found.get(n)
        if net is None:
            errs.append(f"{var}: the network {n!r} does not exist on this engine. The docker_swarm role creates the "
                        f"data network and one private overlay per enabled platform: run playbooks/docker_swarm.yml "
                        f"first (a platform's network appears once bizosaas_platforms.<platform>.enabled is true)")
        elif net.get("Driver") != "overlay" or net.get("Scope") != "swarm":
            errs.append(f"{var}: the network {n!r} is a {net.get('Scope')}-scoped {net.get('Driver')} network, "
                        f"not a swarm overlay: a Swarm service cannot join it")
    return errs


def postgres_schema_errors(schema: Any, var: str = "postgres_readonly_schema") -> list[str]:
    """The schema each database publishes for the read-only roles: an identifier of its own, never
    public (where a platform keeps its users and sessions) nor a system schema."""
    if not isinstance(schema, str) or not IDENT.match(schema) or schema.startswith("pg_") \
            or schema in ("public", "information_schema"):
        return [f"{var}: {schema!r} must be a schema name of its own (lowercase letters, digits and _), not public, "
                f"information_schema or pg_*: the read-only roles may read every table in it, and public holds "
                f"each platform's own tables (users, sessions, password hashes). Publish views or tables for "
                f"them in a schema such as 'analytics'"]
    return []


def temporal_input_errors(
    namespaces: Sequence, platforms: Sequence | None = None, retention_bounds: Mapping | None = None
) -> list[str]:
    """Errors in temporal_namespaces. With ``retention_bounds`` (the role's bounds of
    temporal_namespace_retention) each namespace's own retention is held to them too."""
    errs: list[str] = []
    known = set(platforms or [])
    seen: set = set()
    for i, ns in enumerate(namespaces or []):
        name, platform = ns.get("name"), ns.get("platform")
        if not isinstance(name, str) or not NAMESPACE.match(name):
            errs.append(f"temporal_namespaces[{i}].name: {name!r} is not a valid namespace name")
        elif name in seen:
            errs.append(f"temporal_namespaces[{i}].name: duplicate namespace {name!r}")
        seen.add(name)
        if known and platform not in known:
            errs.append(f"temporal_namespaces[{i}].platform: namespace {name!r} is for unknown platform {platform!r} "
                        f"(known: {', '.join(sorted(known))})")
        ret = ns.get("retention", "72h")
        if retention_bounds is not None:
            if "retention" in ns:
                where = f"temporal_namespaces[{i}].retention"
                errs += bounds_errors({where: retention_bounds}, {where: ret})
        elif not re.match(r"^[0-9]+[hd]$", str(ret)):
            errs.append(f"temporal_namespaces[{i}].retention: {ret!r} is not a duration like 72h or 30d")
    return errs


# ---------------------------------------------------------------------------------------------
# Postgres tuning and SCRAM
# ---------------------------------------------------------------------------------------------
def pg_tuning(memtotal_mb: int, fraction: float = 0.5, max_connections: int = 200) -> dict[str, str]:
    """pgtune-like memory settings for a Postgres that gets ``fraction`` of the host's memory."""
    try:
        mem = int(int(memtotal_mb) * float(fraction))
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(f"pg_tuning: memtotal_mb and fraction must be numbers: {e}") from e
    if mem < 128:
        raise AnsibleFilterError(f"pg_tuning: {mem} MB for Postgres is too little (memtotal_mb * fraction >= 128)")
    shared = max(32, mem // 4)
    work = max(4, (mem - shared) // (int(max_connections) * 3))
    return {
        "max_connections": str(int(max_connections)),
        "shared_buffers": f"{shared}MB",
        "effective_cache_size": f"{mem * 3 // 4}MB",
        "maintenance_work_mem": f"{min(2048, max(16, mem // 16))}MB",
        "work_mem": f"{work}MB",
        "wal_buffers": f"{min(16, max(1, shared // 32))}MB",
    }


def pg_args(settings: Mapping) -> list[str]:
    """``postgres -c k=v ...`` in a stable (sorted) order, so the service spec is idempotent."""
    settings = _need_mapping(settings, "postgres settings")
    args = ["postgres"]
    for k in sorted(settings):
        if not re.match(r"^[a-z_][a-z0-9_.]*$", str(k)):
            raise AnsibleFilterError(f"postgres_settings: {k!r} is not a setting name")
        args += ["-c", f"{k}={settings[k]}"]
    return args


_PROHIBITED = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
               stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
               stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9)


def saslprep(password: str) -> bytes:
    """PostgreSQL's pg_saslprep: SASLprep (RFC 4013) when it succeeds, else the raw UTF-8 bytes."""
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    norm = unicodedata.normalize("NFKC", mapped)
    if not norm:
        return raw
    if any(check(c) for c in norm for check in _PROHIBITED):
        return raw
    has_ral = any(stringprep.in_table_d1(c) for c in norm)
    if has_ral and (any(stringprep.in_table_d2(c) for c in norm)
                    or not stringprep.in_table_d1(norm[0]) or not stringprep.in_table_d1(norm[-1])):
        return raw
    return norm.encode("utf-8")


def _verifier(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_matches(verifier: str | None, password: str) -> bool:
    m = SCRAM.match(verifier or "")
    if not m:
        return False
    stored, server = _verifier(password, base64.b64decode(m.group(2)), int(m.group(1)))
    return hmac.compare_digest(stored, base64.b64decode(m.group(3))) and hmac.compare_digest(
        server, base64.b64decode(m.group(4)))


def scram_sha256(password: str, role: str, current: str | None = None, iterations: int = 4096) -> str:
    """A SCRAM-SHA-256 verifier for ``password``. ``current`` (pg_authid.rolpassword) is returned
    as is when it already verifies the password. Otherwise the salt is PBKDF2(password, role),
    deterministic (idempotent reruns) and as costly to attack as the verifier itself."""
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError(f"scram_sha256: the password of role {role!r} is empty")
    if current and scram_matches(current, password):
        return current
    salt = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), b"bizosaas-ops scram salt:" + role.encode(),
                               iterations, dklen=16)
    stored, server = _verifier(password, salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


# ---------------------------------------------------------------------------------------------
# Redis ACL
# ---------------------------------------------------------------------------------------------
# Keyless (or channel-unchecked) commands that the command categories of a platform user would allow
# and that read, count or change what belongs to every platform: Redis checks a user's key and
# channel patterns only on the key and channel arguments of a command, so these answer about the
# whole server. Measured on the kit's Redis 7.0 (tests/kit/test_redis_acl_audit.py walks COMMAND
# and fails on any keyless command allowed to a platform user that is not known to be harmless).
REDIS_DENIED_COMMANDS: dict[str, str] = {
    "scan": "lists the key names of every platform (key patterns do not filter SCAN's reply)",
    "keys": "lists the key names of every platform (also in @dangerous)",
    "randomkey": "returns a key name of any platform",
    "dbsize": "counts every platform's keys",
    "pubsub|channels": "lists every platform's active channel names",
    "pubsub|shardchannels": "lists every platform's active shard channel names",
    "pubsub|numpat": "counts every platform's pattern subscriptions",
    "pubsub|numsub": "tells whether anyone listens on a channel of another platform (its argument is not checked)",
    "pubsub|shardnumsub": "tells whether anyone listens on a shard channel of another platform",
    "client|tracking": "in BCAST mode (PREFIX is not checked) pushes the name of every key any platform writes",
    "function": "FUNCTION LOAD/DELETE/FLUSH/RESTORE change the function libraries every platform shares",
}
REDIS_DEFAULT_CATEGORIES = ["-@all", "+@read", "+@write", "+@keyspace", "+@connection", "+@transaction",
                            "+@pubsub", "-@dangerous"]


def redis_acl(users: Sequence, default_password: str, categories: Sequence | None = None) -> str:
    """The ACL file: the default user (admin) with a password, one user per platform limited to
    its key prefix and channel prefix, with the categories, then every command of
    REDIS_DENIED_COMMANDS denied (after the categories, so no category brings one back), then the
    user's own ``unsafe_commands`` allowed again. Only SHA-256 hashes of passwords are written."""
    if not default_password:
        raise AnsibleFilterError("redis_acl: redis_default_password is empty")
    cats = list(categories or REDIS_DEFAULT_CATEGORIES)
    denied = [f"-{c}" for c in REDIS_DENIED_COMMANDS]
    sha = lambda p: hashlib.sha256(p.encode("utf-8")).hexdigest()  # noqa: E731
    lines = [f"user default on #{sha(default_password)} ~* &* +@all"]
    for u in sorted(users or [], key=lambda x: x["name"]):
        if not u.get("password"):
            raise AnsibleFilterError(f"redis_acl: the password of {u['name']!r} is empty")
        unsafe = list(u.get("unsafe_commands") or [])
        unknown = [c for c in unsafe if c not in REDIS_DENIED_COMMANDS]
        if unknown:
            raise AnsibleFilterError(f"redis_acl: {u['name']!r} opts into {unknown}, which are not denied commands")
        rules = " ".join(cats + denied + [f"+{c}" for c in unsafe])
        lines.append(f"user {u['name']} on #{sha(u['password'])} resetkeys ~{u['prefix']}* "
                     f"resetchannels &{u['prefix']}* {rules}")
    return "\n".join(lines) + "\n"


def redis_selfcheck_line(user: Mapping) -> str:
    """The line roles/redis/files/redis_selfcheck.sh must print for ``user``: its login and its own
    prefix work, a key outside it is refused, and so are the denied keyless commands it did not opt into."""
    unsafe = set(user.get("unsafe_commands") or [])
    probes = {"scan": "scan", "randomkey": "randomkey", "dbsize": "dbsize", "channels": "pubsub|channels"}
    verdicts = " ".join(f"{k}={'ok' if c in unsafe else 'NOPERM'}" for k, c in probes.items())
    return f"SELFCHECK {user['name']} ping=ok own=ok outside=NOPERM {verdicts}"


def redis_unsafe_warnings(users: Sequence) -> list[str]:
    """One warning per platform user that opted back into denied commands, naming what it exposes."""
    out = []
    for u in users or []:
        unsafe = [c for c in u.get("unsafe_commands") or [] if c in REDIS_DENIED_COMMANDS]
        if unsafe:
            others = ", ".join(f"{o['prefix']}*" for o in users if o is not u) or "every other prefix"
            what = "; ".join(f"{c.upper()} {REDIS_DENIED_COMMANDS[c]}" for c in unsafe)
            out.append(f"Redis user {u['name']!r} may run {', '.join(c.upper() for c in unsafe)} "
                       f"(bizosaas_platforms.{u['name']}.redis_unsafe_commands): {what}. A compromised {u['name']} "
                       f"container sees the names of {others}, which often embed session IDs and e-mail addresses. "
                       f"Remove the opt-in once the application no longer needs it.")
    return out


# ---------------------------------------------------------------------------------------------
# reconcile: what differs from the catalog read by the role
# ---------------------------------------------------------------------------------------------
def postgres_connect_revokes(connect_keys: Sequence, databases: Sequence, readonly_roles: Sequence | None = None,
                             superuser: str = "postgres") -> list[dict]:
    """The CONNECT grants on managed databases that nobody is entitled to: [{role, database}].

    `connect_keys` are 'role|database' strings read from the catalog (every non-PUBLIC grantee of
    CONNECT). Entitled to a managed database: its owner, the read-only roles given that database,
    and the superuser. Grants on databases not in `databases` are left alone (not ours)."""
    managed = {d["name"]: d["owner"] for d in databases or []}
    allowed = {(owner, name) for name, owner in managed.items()}
    allowed |= {(superuser, name) for name in managed}
    for r in readonly_roles or []:
        allowed |= {(r["name"], db) for db in r.get("databases") or []}
    out = []
    for key in connect_keys or []:
        role, _, db = str(key).rpartition("|")
        if db in managed and (role, db) not in allowed:
            out.append({"role": role, "database": db})
    return sorted(out, key=lambda x: (x["database"], x["role"]))


def postgres_unknown_superusers(roles: Sequence, allowed: Sequence | None = None,
                                superuser: str = "postgres") -> list[str]:
    """Roles that can log in as superusers and that the toolkit does not manage: never dropped, reported.

    `roles` are catalog rows with `rolname` and `login_superuser`."""
    known = {superuser, *(allowed or [])}
    return sorted(r["rolname"] for r in roles or [] if r.get("login_superuser") and r["rolname"] not in known)


def rows_or_empty(result: Any) -> list:
    """postgresql_query's query_result is {} when there is no row: make it a list."""
    return list(result) if isinstance(result, Sequence) and not isinstance(result, str) else []


class FilterModule:
    def filters(self):
        return {
            "platform_databases": platform_databases,
            "platform_redis_users": platform_redis_users,
            "platform_namespaces": platform_namespaces,
            "secret_entries": secret_entries,
            "secret_var_names": secret_var_names,
            "unique_by": unique_by,
            "postgres_input_errors": postgres_input_errors,
            "redis_input_errors": redis_input_errors,
            "temporal_input_errors": temporal_input_errors,
            "pg_tuning": pg_tuning,
            "pg_args": pg_args,
            "scram_sha256": scram_sha256,
            "scram_matches": scram_matches,
            "redis_acl": redis_acl,
            "redis_unsafe_warnings": redis_unsafe_warnings,
            "redis_selfcheck_line": redis_selfcheck_line,
            "data_network_errors": data_network_errors,
            "data_network_engine_errors": data_network_engine_errors,
            "postgres_schema_errors": postgres_schema_errors,
            "rows_or_empty": rows_or_empty,
            "postgres_connect_revokes": postgres_connect_revokes,
            "postgres_unknown_superusers": postgres_unknown_superusers,
        }
