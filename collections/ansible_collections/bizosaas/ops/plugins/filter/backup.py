"""Filters for the backup role: the platforms' backup targets (the glue), the restic repositories'
settings, and the role's input checks, each message naming the variable and the fix."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: backup_platforms
short_description: What the backup role backs up and restores per platform
description:
  - "For every enabled platform of bizosaas_platforms, its database, Redis prefix, Swarm stack and the Docker
    volumes its services mark C(backup: true) (C(services.<s>.volumes: [{name, target, backup}])); a stack's
    volume C(media) is the Docker volume C(<stack>_media)."
  - Fails with AnsibleFilterError naming the entry to fix.
options:
  _input: {description: bizosaas_platforms, type: dict, required: true}
"""

REPO_TYPES = ("local", "sftp", "s3")
KEEP_UNITS = ("hourly", "daily", "weekly", "monthly", "yearly")
_REPO_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$|^\d{{1,3}}(\.\d{{1,3}}){{3}}$|^\[[0-9a-fA-F:]+\]$")
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_S3_URL = re.compile(r"^s3:(https?://)?[A-Za-z0-9.-]+(:\d+)?/[A-Za-z0-9._-]+(/[A-Za-z0-9._/-]*)?$")
_KNOWN_HOSTS_LINE = re.compile(
    r"^\S+\s+(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-\S+)\s+[A-Za-z0-9+/=]+(\s.*)?$")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----.+-----END (OPENSSH|RSA|EC) PRIVATE KEY-----", re.S)


def _err(msg: str) -> AnsibleFilterError:
    return AnsibleFilterError(msg)


def backup_platforms(platforms: Any) -> list[dict[str, Any]]:
    """[{name, database, redis_prefix, stack, volumes}] of every enabled platform."""
    if not isinstance(platforms, Mapping):
        raise _err("bizosaas_platforms: expected a mapping of platform name -> platform data, "
                   f"got {type(platforms).__name__}")
    out = []
    for pname, pdata in platforms.items():
        pdata = pdata or {}
        if not isinstance(pdata, Mapping):
            raise _err(f"bizosaas_platforms.{pname}: expected a mapping, got {pdata!r}")
        if not pdata.get("enabled", True):
            continue
        stack = str(pname)
        volumes: list[str] = []
        for sname, svc in (pdata.get("services") or {}).items():
            for i, vol in enumerate((svc or {}).get("volumes") or []):
                where = f"bizosaas_platforms.{pname}.services.{sname}.volumes[{i}]"
                name = vol.get("name") if isinstance(vol, Mapping) else None
                if not isinstance(name, str) or not _VOLUME.match(name):
                    raise _err(f"{where}: expected {{name: <docker volume name>, target: /path, backup: true|false}}, "
                               f"got {vol!r}")
                backup = vol.get("backup", True)
                if not isinstance(backup, bool):
                    raise _err(f"{where}.backup: {backup!r} must be true or false")
                docker_name = vol["name"]  # the volume's own name on the node, as platform_stack mounts it
                if backup and docker_name not in volumes:
                    volumes.append(docker_name)
        out.append({
            "name": str(pname),
            "database": pdata.get("database") or "",
            "redis_prefix": pdata.get("redis_prefix") or "",
            "stack": stack,
            "volumes": volumes,
        })
    return out


def _is_abs(path: Any) -> bool:
    """An absolute, normalised path (a trailing slash is allowed)."""
    return isinstance(path, str) and path.startswith("/") and (
        path == "/" or posixpath.normpath(path) == path.rstrip("/"))


def _under(path: str, parent: str) -> bool:
    path, parent = posixpath.normpath(path), posixpath.normpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def backup_repositories(repositories: Any) -> list[dict[str, Any]]:
    """The repositories as the runner reads them: name, type, the restic URL, and for sftp its host,
    port and user. Assumes backup_input_errors found nothing."""
    out = []
    for repo in repositories or []:
        kind = repo.get("type", "local")
        entry: dict[str, Any] = {"name": repo["name"], "type": kind}
        if kind == "local":
            entry["url"] = posixpath.normpath(repo["path"])
        elif kind == "sftp":
            port = int(repo.get("port", 22))
            entry.update(url=f"sftp:{repo['user']}@{repo['host']}:{repo['path']}", host=repo["host"], port=port,
                         user=repo["user"])
        else:
            entry["url"] = repo["url"]
        out.append(entry)
    return out


def backup_known_hosts(repositories: Any) -> str:
    """The known_hosts file for the SFTP repositories (their known_hosts entries; a non-standard port
    becomes [host]:port as OpenSSH looks it up)."""
    lines = []
    for repo in repositories or []:
        if repo.get("type") != "sftp" or not repo.get("known_hosts"):
            continue
        port = int(repo.get("port", 22))
        for line in str(repo["known_hosts"]).strip().splitlines():
            host, _, rest = line.strip().partition(" ")
            if port != 22 and not host.startswith("["):
                host = ",".join(f"[{h}]:{port}" for h in host.split(","))
            lines.append(f"{host} {rest.strip()}")
    return "\n".join(lines) + ("\n" if lines else "")


def backup_input_errors(
    repositories: Any,
    password: Any = "",
    password_var: str = "backup_password",
    sftp_identity: Any = "",
    sftp_identity_var: str = "backup_sftp_identity",
    s3_credentials: Any = None,
    s3_credentials_var: str = "backup_s3_credentials",
    state_dir: str = "/var/lib/bizosaas-ops/backup",
    paths: Any = None,
    retention: Any = None,
    platforms: Any = None,
    databases: Any = None,
) -> list[str]:
    """Every problem with the backup role's inputs, one message each (empty: all good)."""
    errors: list[str] = []
    if not isinstance(repositories, Sequence) or isinstance(repositories, str) or not repositories:
        return ["backup_repositories: give at least one repository, e.g. [{name: local, type: local, "
                "path: /var/backups/bizosaas-ops/restic}] (bizosaas_backup_repositories in the inventory)"]
    if not password:
        errors.append(f"{password_var} is missing or empty: the restic password of the repositories comes from the "
                      "vault (make secrets generates it; keep a copy off the VPS, without it no backup can be read)")
    paths = list(paths or [])
    for p in paths:
        if not _is_abs(p):
            errors.append(f"backup_paths: {p!r} is not an absolute, normalised path")
    names: set[str] = set()
    for i, repo in enumerate(repositories):
        where = f"backup_repositories[{i}]"
        if not isinstance(repo, Mapping):
            errors.append(f"{where}: expected a mapping with name and type, got {repo!r}")
            continue
        name = repo.get("name")
        if not isinstance(name, str) or not _REPO_NAME.match(name):
            errors.append(f"{where}.name: {name!r} must match {_REPO_NAME.pattern} (it names the repository in "
                          "the status file and in -e repository=)")
        elif name in names:
            errors.append(f"{where}.name: {name} is used twice")
        else:
            names.add(name)
            where = f"backup_repositories[{i}] ({name})"
        kind = repo.get("type", "local")
        if kind not in REPO_TYPES:
            errors.append(f"{where}.type: {kind!r} must be one of {', '.join(REPO_TYPES)}")
            continue
        allowed = {"name", "type"} | {"local": {"path"}, "sftp": {"host", "port", "user", "path", "known_hosts"},
                                      "s3": {"url"}}[kind]
        unknown = sorted(set(repo) - allowed)
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)} for a {kind} repository "
                          f"(it takes {', '.join(sorted(allowed))})")
        if kind == "local":
            path = repo.get("path")
            if not _is_abs(path) or path == "/":
                errors.append(f"{where}.path: {path!r} must be an absolute, normalised folder other than /")
            elif _under(path, state_dir) or _under(state_dir, path):
                errors.append(f"{where}.path: {path} overlaps the backup state folder {state_dir}, whose dumps "
                              "every backup reads; keep the repository elsewhere "
                              "(default /var/backups/bizosaas-ops/restic)")
            else:
                for p in paths:
                    if isinstance(p, str) and (_under(path, p) or _under(p, path)):
                        errors.append(f"{where}.path: {path} overlaps {p} in backup_paths: the repository "
                                      "would back itself up")
        elif kind == "sftp":
            host, user, path = repo.get("host"), repo.get("user"), repo.get("path")
            if not isinstance(host, str) or not _HOST.match(host):
                errors.append(f"{where}.host: {host!r} is not a host name or address")
            if not isinstance(user, str) or not _USER.match(user):
                errors.append(f"{where}.user: {user!r} is not a user name")
            if not _is_abs(path):
                errors.append(f"{where}.path: {path!r} must be an absolute path on the SFTP server")
            port = repo.get("port", 22)
            if isinstance(port, bool) or not str(port).isdigit() or not 1 <= int(port) <= 65535:
                errors.append(f"{where}.port: {port!r} is not a TCP port (1-65535)")
            known = repo.get("known_hosts", "")
            if known:
                bad = [ln for ln in str(known).strip().splitlines() if not _KNOWN_HOSTS_LINE.match(ln.strip())]
                if bad:
                    errors.append(f"{where}.known_hosts: {bad[0]!r} is not a known_hosts line "
                                  "(host keytype base64key, as ssh-keyscan prints it)")
            if not sftp_identity:
                errors.append(f"{sftp_identity_var} is missing or empty: the SFTP repository {name} needs an OpenSSH "
                              "private key in the vault whose public key the server authorises (ssh-keygen -t ed25519)")
            elif not _PRIVATE_KEY.search(str(sftp_identity)):
                errors.append(f"{sftp_identity_var} does not look like an OpenSSH private key "
                              "(-----BEGIN OPENSSH PRIVATE KEY----- ...)")
        else:
            url = repo.get("url")
            if not isinstance(url, str) or not _S3_URL.match(url):
                errors.append(f"{where}.url: {url!r} is not a restic S3 URL such as "
                              "s3:https://s3.eu-central-1.amazonaws.com/my-bucket/vps1")
            creds = s3_credentials if isinstance(s3_credentials, Mapping) else {}
            missing = [k for k in ("access_key_id", "secret_access_key") if not creds.get(k)]
            if missing:
                errors.append(f"{s3_credentials_var} lacks {', '.join(missing)}: the S3 repository {name} needs "
                              f"{{access_key_id: ..., secret_access_key: ...}} in the vault")
    if retention is not None and (not isinstance(retention, Mapping)
                                  or not any(int(retention.get(k) or 0) > 0 for k in KEEP_UNITS)):
        errors.append("backup_keep_daily, backup_keep_weekly and backup_keep_monthly are all 0: the retention "
                      "policy would keep no snapshot")
    dbs = set(databases or [])
    for p in platforms or []:
        if databases is not None and p.get("database") and p["database"] not in dbs:
            errors.append(f"backup_platforms: platform {p.get('name')} names database {p['database']}, which is not "
                          f"in backup_postgres_databases ({', '.join(sorted(dbs)) or 'none'})")
    return errors


class FilterModule:
    def filters(self):
        return {
            "backup_platforms": backup_platforms,
            "backup_repositories": backup_repositories,
            "backup_known_hosts": backup_known_hosts,
            "backup_input_errors": backup_input_errors,
        }
