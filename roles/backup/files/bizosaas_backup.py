#!/usr/bin/env python3
"""bizosaas-backup: consistent backups of a bizosaas-ops VPS into restic repositories, restores, drills.

    bizosaas-backup run [--platform P ...] [--repository R ...] [--kind manual|scheduled|predeploy] [--json]
    bizosaas-backup check [--repository R ...] [--json]       prune by the retention policy, then restic check
    bizosaas-backup snapshots [--repository R] [--platform P] [--host H] [--json]
    bizosaas-backup plan (--platform P | --all) [--snapshot ID|latest] [--repository R] [--host H] [--json]
    bizosaas-backup restore (--platform P | --all) --snapshot ID|latest [--repository R] [--host H]
                            [--confirm WORD[,WORD...]] [--keep-previous] [--json]
    bizosaas-backup drill [--snapshot ID|latest] [--repository R] [--host H] [--json]
    bizosaas-backup fingerprint [--json]                      live per-table counts/checksums, Redis keys per prefix
    bizosaas-backup repositories [--init] [--json]            open (and create) every repository
    bizosaas-backup status                                    the status file

Written by the backup role of bizosaas-ops from roles/backup/files/bizosaas_backup.py; its settings
are the role's config.json (no secrets: those are files in the 0700 secrets folder beside it).

What a backup holds, taken inside the running services: each Postgres database as `pg_dump -Fc`
(uncompressed, so restic deduplicates it; restic compresses) in the same MVCC snapshot as a
fingerprint of every table (row count and a checksum of its rows), `pg_dumpall --globals-only`,
Redis as the RDB file of a BGSAVE with its key counts per prefix, Dokploy's database, the volumes
platforms mark `backup: true`, and host files (the edge's ACME state and CA, stack files, the deploy
history). Dumps are staged in the state folder (0700) and removed after the run: nothing unencrypted
is left outside it. One restic snapshot per repository per run, tagged `bizosaas`, `kind:<kind>`,
`platform:<name>` for each platform it holds in full, and `partial` when an item failed.

A restore prepares everything beside the live data first (a new database restored and checked
against the dump's fingerprint, the Redis keys read from a scratch Redis, a copy of each volume),
and only then stops the platform's services, swaps the prepared data in, and starts them again. A
failure before the swap leaves the live data untouched; a failure during it puts the previous data
back. Exit codes: 0 done, 1 failed, 2 refused before any change (a missing confirm word, a snapshot
that lacks the platform).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "/var/lib/bizosaas-ops/backup/config.json"
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
SCRATCH_LABEL = "org.bizosaas.backup=scratch"
DUMPS = "dumps"  # under the state folder: the staged dumps, the first path of every snapshot
PROGRESS_EVERY = 10.0  # seconds between two progress lines of a long restic step


class Failure(Exception):
    """A step failed. The message says what failed and what to do."""


class Refusal(Failure):
    """Refused before any change (exit code 2)."""


# --------------------------------------------------------------------------------------- output
def log(msg: str) -> None:
    print(f"[bizosaas-backup {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def human_bytes(n: float | int | None) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class Step:
    """One step of a run, summarised for the output and the status file."""

    name: str
    ok: bool = True
    seconds: float = 0.0
    bytes: int | None = None
    detail: str = ""

    def line(self) -> str:
        size = f", {human_bytes(self.bytes)}" if self.bytes is not None else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name} ({self.seconds:.1f} s{size}){detail}"


class Steps(list):
    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Step]:
        s = Step(name)
        start = time.monotonic()
        log(f"{name} ...")
        try:
            yield s
        except BaseException as exc:
            s.ok = False
            s.detail = s.detail or str(exc)
            raise
        finally:
            s.seconds = round(time.monotonic() - start, 2)
            self.append(s)
            log(s.line())


# --------------------------------------------------------------------------------------- config
@dataclass
class Repository:
    name: str
    type: str
    url: str
    host: str = ""
    port: int = 22
    user: str = ""


@dataclass
class Platform:
    name: str
    database: str = ""
    redis_prefix: str = ""
    stack: str = ""
    volumes: list[str] = field(default_factory=list)


@dataclass
class Config:
    host_id: str
    state_dir: Path
    repositories: list[Repository]
    password_file: Path
    password_var: str
    sftp_identity: Path
    known_hosts: Path
    s3_env: Path
    retention: dict[str, int]
    platforms_within: str
    compression: str
    check_read_data_subset: str
    postgres_service: str
    postgres_superuser: str
    databases: list[str]
    redis_service: str
    redis_password_file: str
    dokploy: dict[str, Any] | None
    platforms: list[Platform]
    volumes: list[str]
    paths: list[str]
    edge_container: str
    start_timeout: int
    drill_redis_tolerance: float

    @classmethod
    def load(cls, path: str) -> Config:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise Failure(f"cannot read the configuration {path}: {exc}. Run playbooks/backup.yml.") from exc
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        state = Path(raw["state_dir"])
        sec = state / "secrets"
        return cls(
            host_id=raw["host_id"],
            state_dir=state,
            repositories=[Repository(**{k: v for k, v in r.items() if k in Repository.__dataclass_fields__})
                          for r in raw["repositories"]],
            password_file=sec / "restic-password",
            password_var=raw.get("password_var", "backup_password"),
            sftp_identity=sec / "sftp-identity",
            known_hosts=sec / "known_hosts",
            s3_env=sec / "s3.env",
            retention={k: int(v) for k, v in raw["retention"].items() if k != "platforms_within"},
            platforms_within=str(raw["retention"].get("platforms_within", "14d")),
            compression=raw.get("compression", "auto"),
            check_read_data_subset=raw.get("check_read_data_subset", ""),
            postgres_service=raw["postgres"]["service"],
            postgres_superuser=raw["postgres"].get("superuser", "postgres"),
            databases=list(raw["postgres"].get("databases") or []),
            redis_service=raw["redis"]["service"],
            redis_password_file=raw["redis"].get("password_file", "/run/secrets/redis_default_password"),
            dokploy=raw.get("dokploy") or None,
            platforms=[Platform(**p) for p in raw.get("platforms") or []],
            volumes=list(raw.get("volumes") or []),
            paths=list(raw.get("paths") or []),
            edge_container=raw.get("edge_container", ""),
            start_timeout=int(raw.get("start_timeout", 300)),
            drill_redis_tolerance=float(raw.get("drill_redis_tolerance_percent", 0)),
        )

    def repo(self, name: str) -> Repository:
        for r in self.repositories:
            if r.name == name:
                return r
        raise Refusal(f"unknown repository {name!r}; this host has: {', '.join(r.name for r in self.repositories)}")

    def platform(self, name: str) -> Platform:
        for p in self.platforms:
            if p.name == name:
                return p
        raise Refusal(f"unknown platform {name!r}; known: {', '.join(p.name for p in self.platforms) or 'none'}")

    @property
    def dumps(self) -> Path:
        return self.state_dir / DUMPS

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"


# --------------------------------------------------------------------------------------- processes
def run(argv: Sequence[str], *, input: str | bytes | None = None, stdout: Any = subprocess.PIPE,
        env: dict[str, str] | None = None, check: bool = True, timeout: float | None = None,
        text: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), input=input, stdout=stdout, stderr=subprocess.PIPE, env=env, text=text,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else (proc.stderr or b"").decode(errors="replace")
        raise Failure(f"{' '.join(argv[:4])}... exited {proc.returncode}: {last_lines(err)}")
    return proc


def last_lines(text: str, n: int = 3) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) or "(no output)"


def docker(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    return run(["docker", *args], check=check, **kw)


def task_container(service: str) -> str:
    """The running container of a Swarm service's task on this host."""
    out = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}",
                 "--filter", "status=running").stdout.split()
    if not out:
        raise Failure(f"the service {service} has no running task on this host: is it deployed and healthy? "
                      f"(docker service ps {service})")
    return out[0]


def service_image(service: str) -> str:
    spec = json.loads(docker("service", "inspect", service).stdout)[0]["Spec"]
    return spec["TaskTemplate"]["ContainerSpec"]["Image"]


def service_exists(service: str) -> bool:
    return docker("service", "inspect", service, check=False).returncode == 0


def volume_mountpoint(name: str) -> Path | None:
    proc = docker("volume", "inspect", "--format", "{{.Mountpoint}}", name, check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def remove_scratch() -> None:
    """Remove scratch containers left by this tool (a drill or restore that was killed)."""
    ids = docker("ps", "-aq", "--filter", f"label={SCRATCH_LABEL}", check=False).stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)


# --------------------------------------------------------------------------------------- restic
_RESTIC_ERRORS = [
    (re.compile(r"wrong password|no key found", re.I), "wrong password"),
    (re.compile(r"no space left on device|disk quota exceeded", re.I), "disk full"),
    (re.compile(r"Is there a repository at the following location|unable to open config file|"
                r"repository does not exist|config file does not exist", re.I), "no repository"),
    (re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED", re.I), "host key mismatch"),
    (re.compile(r"Permission denied \(publickey", re.I), "key refused"),
    (re.compile(r"Connection refused|Could not resolve hostname|No route to host|Connection timed out|"
                r"Network is unreachable|unable to start the sftp session|connection closed|ssh: connect to host|"
                r"dial tcp|no such host|i/o timeout", re.I), "unreachable"),
    (re.compile(r"repository is already locked|unable to create lock", re.I), "locked"),
]


def restic_error_kind(stderr: str, rc: int) -> str:
    if rc == 12:
        return "wrong password"
    if rc == 10:
        return "no repository"
    if rc == 11:
        return "locked"
    for pattern, kind in _RESTIC_ERRORS:
        if pattern.search(stderr or ""):
            return kind
    return "error"


HINTS = {
    "wrong password": "{var} does not open it: use the password it was created with (the vault), or change its key "
                      "with `restic key passwd` first",
    "disk full": "free space where the repository lives, or lower the retention (backup_keep_*)",
    "no repository": "it is not initialised yet: `bizosaas-backup repositories --init` (playbooks/backup.yml) "
                     "creates it",
    "host key mismatch": "the server's SSH host key differs from the repository's known_hosts entry",
    "key refused": "the server refuses the key in vault_backup_sftp_identity: authorise its public key for the user",
    "unreachable": "the repository's host cannot be reached (network, DNS, sshd down)",
    "locked": "another restic process holds its lock; if none runs, `restic unlock` removes a stale lock",
    "error": "see restic's message",
}


class Restic:
    """restic against one repository, with the credentials from the secrets folder."""

    def __init__(self, cfg: Config, repo: Repository):
        self.cfg, self.repo = cfg, repo

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
        env["RESTIC_PASSWORD_FILE"] = str(self.cfg.password_file)
        env["RESTIC_PROGRESS_FPS"] = "0.2"
        if self.repo.type == "s3":
            env.update(read_env_file(self.cfg.s3_env))
        return env

    def argv(self, *args: str) -> list[str]:
        base = ["restic", "--repo", self.repo.url, "--cache-dir", str(self.cfg.state_dir / "cache")]
        if self.repo.type == "sftp":
            base += ["--option", f"sftp.command={self.ssh_command()}"]
        return [*base, *args]

    def ssh_command(self) -> str:
        known = ["-o", f"UserKnownHostsFile={self.cfg.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
        if not self.cfg.known_hosts.exists() or not self.cfg.known_hosts.read_text().strip():
            known = ["-o", f"UserKnownHostsFile={self.cfg.state_dir / 'secrets' / 'known_hosts.learned'}",
                     "-o", "StrictHostKeyChecking=accept-new"]
        parts = ["ssh", "-F", "/dev/null", "-i", str(self.cfg.sftp_identity), "-o", "IdentitiesOnly=yes",
                 "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15",
                 "-o", "ServerAliveCountMax=4", *known, "-p", str(self.repo.port),
                 f"{self.repo.user}@{self.repo.host}", "-s", "sftp"]
        return " ".join(parts)

    def describe(self) -> str:
        return f"{self.repo.name} ({self.repo.url})"

    def fail(self, what: str, stderr: str, rc: int) -> Failure:
        kind = restic_error_kind(stderr, rc)
        hint = HINTS[kind].format(var=self.cfg.password_var)
        return Failure(f"repository {self.describe()}: {what} failed: {kind}: {last_lines(stderr, 2)}. {hint}.")

    def call(self, *args: str, what: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        proc = run(self.argv(*args), env=self.env(), check=False, timeout=timeout)
        if proc.returncode != 0:
            raise self.fail(what, proc.stderr, proc.returncode)
        return proc

    def open(self) -> str:
        """'ok', or raise naming why the repository cannot be opened."""
        self.call("cat", "config", what="opening", timeout=120)
        return "ok"

    def ensure(self, create: bool) -> str:
        """Open the repository; create it when it does not exist yet and create is set."""
        proc = run(self.argv("cat", "config"), env=self.env(), check=False, timeout=120)
        if proc.returncode == 0:
            return "ok"
        kind = restic_error_kind(proc.stderr, proc.returncode)
        if kind != "no repository" or not create:
            raise self.fail("opening", proc.stderr, proc.returncode)
        if self.repo.type == "local":
            Path(self.repo.url).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.call("init", what="creating", timeout=300)
        return "created"

    def snapshots(self, host: str | None, tags: Iterable[str] = ()) -> list[dict[str, Any]]:
        args = ["snapshots", "--json"]
        if host:
            args += ["--host", host]
        for t in tags:
            args += ["--tag", t]
        proc = self.call(*args, what="listing snapshots", timeout=300)
        snaps = json.loads(proc.stdout or "[]") or []
        return sorted(snaps, key=lambda s: s.get("time", ""))

    def stream(self, args: Sequence[str], what: str, on_status: Any = None) -> tuple[dict[str, Any], list[str]]:
        """Run a restic command with --json, log a progress line every PROGRESS_EVERY s; return its
        summary message and the error messages it reported."""
        proc = subprocess.Popen(self.argv(*args), env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        summary: dict[str, Any] = {}
        errors: list[str] = []
        last = 0.0
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("message_type")
            if kind == "summary":
                summary = msg
            elif kind == "error":
                err = msg.get("error")
                errors.append(f"{msg.get('item', '')}: {err.get('message') if isinstance(err, dict) else err}")
            elif kind == "status" and time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                log(f"  {self.repo.name}: {progress_line(msg)}")
                if on_status:
                    on_status(msg)
        stderr = proc.stderr.read()
        rc = proc.wait()
        if rc not in (0, 3):
            raise self.fail(what, stderr + "\n" + "\n".join(errors), rc)
        if rc == 3:
            errors.append("restic could not read some files (exit 3): " + last_lines(stderr, 2))
        return summary, errors


def progress_line(msg: dict[str, Any]) -> str:
    pct = float(msg.get("percent_done") or 0) * 100
    done, total = msg.get("bytes_done"), msg.get("total_bytes")
    secs = msg.get("seconds_elapsed") or 0
    eta = msg.get("seconds_remaining")
    return (f"{pct:5.1f}% {human_bytes(done)} of {human_bytes(total)}, {secs} s"
            + (f", about {eta} s left" if eta else ""))


def read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                out[k.strip()] = v
    return out


def summary_added(summary: dict[str, Any]) -> int | None:
    """Bytes a backup added to the repository (packed, i.e. after compression, when restic reports it)."""
    for key in ("data_added_packed", "data_added"):
        if key in summary:
            return int(summary[key])
    return None


# --------------------------------------------------------------------------------------- postgres
FINGERPRINT_TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1;
""".strip()


def fingerprint_sql(tables: Sequence[str]) -> str:
    """One query: per table its row count and an order-independent checksum of its rows (the sum of
    the first 64 bits of each row's md5), so a dump restored anywhere can be compared exactly."""
    if not tables:
        return "SELECT NULL WHERE false;"
    parts = [
        f"SELECT {sql_literal(t)}, count(*), "
        "coalesce(sum(('x' || substr(md5(ROW(r.*)::text), 1, 16))::bit(64)::bigint), 0)"
        f" FROM {t} r"
        for t in tables
    ]
    return "\nUNION ALL\n".join(parts) + ";"


def sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def sql_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def parse_fingerprint(lines: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in lines:
        parts = line.rstrip("\n").split("|")
        if len(parts) == 3:
            out[parts[0]] = [parts[1], parts[2]]
    return out


class Postgres:
    """psql/pg_dump/pg_restore inside a running Postgres container, as its superuser over the local socket."""

    def __init__(self, service: str, superuser: str, os_user: str = "postgres", container: str | None = None):
        self.service, self.superuser, self.os_user = service, superuser, os_user
        self._container = container

    @property
    def container(self) -> str:
        if not self._container:
            self._container = task_container(self.service)
        return self._container

    def exec_argv(self, *argv: str, stdin: bool = False) -> list[str]:
        return ["docker", "exec", *(["-i"] if stdin else []), "-u", self.os_user, self.container, *argv]

    def psql(self, db: str, sql: str, check: bool = True, on_error_stop: bool = True) -> list[str]:
        argv = self.exec_argv("psql", "-X", "-q", "-A", "-t", "-U", self.superuser, "-d", db,
                              *(["-v", "ON_ERROR_STOP=1"] if on_error_stop else []), stdin=True)
        proc = run(argv, input=sql, check=False)
        if check and proc.returncode != 0:
            raise Failure(f"psql on {db} in {self.service}: {last_lines(proc.stderr)}")
        return [line for line in proc.stdout.splitlines() if line != ""]

    def exists(self, db: str) -> bool:
        return bool(self.psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = {sql_literal(db)};"))

    def databases(self) -> list[str]:
        return self.psql("postgres", "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1;")

    def user_tables(self, db: str) -> int:
        return int(self.psql(db, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE c.relkind IN ('r', 'p') "
                                 "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                                 "AND n.nspname !~ '^pg_toast';")[0])

    def fingerprint(self, db: str) -> dict[str, list[str]]:
        tables = self.psql(db, FINGERPRINT_TABLES_SQL)
        return parse_fingerprint(self.psql(db, fingerprint_sql(tables)))

    def dump(self, db: str, dest: Path) -> dict[str, list[str]]:
        """pg_dump -Fc of db into dest, and the fingerprint of every table in the very snapshot the dump
        read (an exported snapshot held open by a psql session), so the drill can compare exactly."""
        session = subprocess.Popen(
            self.exec_argv("stdbuf", "-oL", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-U", self.superuser, "-d", db, stdin=True),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        assert session.stdin is not None and session.stdout is not None

        def ask(sql: str) -> list[str]:
            session.stdin.write(sql + "\nSELECT '__bizosaas_end__';\n")
            session.stdin.flush()
            lines = []
            for line in session.stdout:
                if line.rstrip("\n") == "__bizosaas_end__":
                    return lines
                lines.append(line.rstrip("\n"))
            raise Failure(f"the psql session on {db} ended early: {last_lines(session.stderr.read())}")

        try:
            snapshot = ask("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();")[-1]
            with dest.open("wb") as fh:
                proc = subprocess.run(self.exec_argv("pg_dump", "-U", self.superuser, "-d", db, "-Fc", "-Z", "0",
                                                     f"--snapshot={snapshot}"),
                                      stdout=fh, stderr=subprocess.PIPE, check=False)
            if proc.returncode != 0:
                raise Failure(f"pg_dump of {db} in {self.service}: {last_lines(proc.stderr.decode(errors='replace'))}")
            tables = ask(FINGERPRINT_TABLES_SQL)
            fp = parse_fingerprint(ask(fingerprint_sql(tables)))
            ask("COMMIT;")
        finally:
            with contextlib.suppress(OSError, ValueError):
                session.stdin.close()
            try:
                session.wait(timeout=30)
            except subprocess.TimeoutExpired:
                session.kill()
        return fp

    def dumpall_globals(self, dest: Path) -> None:
        with dest.open("w") as fh:
            proc = subprocess.run(self.exec_argv("pg_dumpall", "-U", self.superuser, "--globals-only"),
                                  stdout=fh, stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode != 0:
            raise Failure(f"pg_dumpall --globals-only in {self.service}: {last_lines(proc.stderr)}")

    def restore_into(self, dump: Path, db: str) -> None:
        with dump.open("rb") as fh:
            proc = subprocess.run(self.exec_argv("pg_restore", "-U", self.superuser, "-d", db, "--exit-on-error",
                                                 "--single-transaction", stdin=True),
                                  stdin=fh, capture_output=True, check=False)
        if proc.returncode != 0:
            raise Failure(f"pg_restore into {db} in {self.service}: {last_lines(proc.stderr.decode(errors='replace'))}")

    def apply_globals(self, path: Path) -> list[str]:
        """Replay pg_dumpall --globals-only; roles that exist already are kept (their CREATE fails, the
        ALTERs apply). Returns the errors other than 'already exists'."""
        proc = run(self.exec_argv("psql", "-X", "-q", "-U", self.superuser, "-d", "postgres", stdin=True),
                   input=path.read_text(), check=False)
        return [line for line in proc.stderr.splitlines()
                if "ERROR" in line and "already exists" not in line]

    def db_settings(self, db: str) -> dict[str, str] | None:
        rows = self.psql("postgres", "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, "
                                     "datctype, datconnlimit FROM pg_database WHERE datname = " + sql_literal(db) + ";")
        if not rows:
            return None
        owner, enc, collate, ctype, connlimit = rows[0].split("|")
        return {"owner": owner, "encoding": enc, "collate": collate, "ctype": ctype, "connlimit": connlimit}

    def create_like(self, new: str, settings: dict[str, str], acl_from: str | None) -> None:
        self.psql("postgres", f"CREATE DATABASE {sql_ident(new)} WITH TEMPLATE template0 "
                              f"OWNER {sql_ident(settings['owner'])} ENCODING {sql_literal(settings['encoding'])} "
                              f"LC_COLLATE {sql_literal(settings['collate'])} "
                              f"LC_CTYPE {sql_literal(settings['ctype'])} "
                              f"CONNECTION LIMIT {int(settings.get('connlimit', -1))};")
        if acl_from:
            grants = self.psql("postgres", acl_copy_sql(acl_from, new))
            self.psql("postgres", "\n".join(f"{g};" for g in grants))

    def terminate(self, db: str) -> None:
        self.psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = {sql_literal(db)} AND pid <> pg_backend_pid();")

    def rename(self, old: str, new: str) -> None:
        last = ""
        for _ in range(10):
            self.terminate(old)
            proc_lines = self.psql("postgres", f"ALTER DATABASE {sql_ident(old)} RENAME TO {sql_ident(new)};",
                                   check=False)
            if self.exists(new) and not self.exists(old):
                return
            last = " ".join(proc_lines)
            time.sleep(1)
        raise Failure(f"could not rename database {old} to {new} (clients keep connecting?) {last}")

    def drop(self, db: str) -> None:
        self.psql("postgres", f"DROP DATABASE IF EXISTS {sql_ident(db)} WITH (FORCE);")


def acl_copy_sql(src: str, dst: str) -> str:
    """SQL that prints the statements giving dst (a new database, default privileges) the
    database-level privileges of src, in the order that reproduces src's ACL exactly: PUBLIC's
    default CONNECT and TEMPORARY revoked where src lacks them, then every other grant."""
    s, d = sql_literal(src), sql_literal(dst)
    return (
        "WITH src AS (SELECT datdba, coalesce(datacl, acldefault('d', datdba)) AS acl FROM pg_database "
        f"WHERE datname = {s}), e AS (SELECT x.* FROM src, aclexplode(src.acl) WITH ORDINALITY "
        "x(grantor, grantee, privilege_type, is_grantable, n) WHERE x.grantee <> src.datdba) "
        "SELECT stmt FROM ("
        f"SELECT 1 AS k, u.n, format('REVOKE %s ON DATABASE %I FROM PUBLIC', u.p, {d}) AS stmt "
        "FROM unnest(ARRAY['CONNECT', 'TEMPORARY']) WITH ORDINALITY u(p, n) "
        "WHERE u.p NOT IN (SELECT privilege_type FROM e WHERE grantee = 0) "
        f"UNION ALL SELECT 2, e.n, format('GRANT %s ON DATABASE %I TO %s%s', e.privilege_type, {d}, "
        "CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(e.grantee)) END, "
        "CASE WHEN e.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) FROM e "
        "WHERE NOT (e.grantee = 0 AND e.privilege_type IN ('CONNECT', 'TEMPORARY') AND NOT e.is_grantable)"
        ") s ORDER BY k, n;"
    )


def fingerprint_diff(want: dict[str, list[str]], got: dict[str, list[str]]) -> list[str]:
    """Tables whose row count or checksum differ, or that are missing on one side."""
    out = []
    for table in sorted(set(want) | set(got)):
        if table not in got:
            out.append(f"{table}: missing (expected {want[table][0]} rows)")
        elif table not in want:
            out.append(f"{table}: not in the backup ({got[table][0]} rows)")
        elif want[table] != got[table]:
            w, g = want[table], got[table]
            what = f"{w[0]} rows, now {g[0]}" if w[0] != g[0] else f"{w[0]} rows, checksum differs"
            out.append(f"{table}: {what}")
    return out


# --------------------------------------------------------------------------------------- redis
def resp(*args: str | bytes) -> bytes:
    """One command in the Redis protocol (binary safe)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RedisSocket:
    """A minimal Redis client over a unix socket (the scratch Redis of a restore or drill)."""

    def __init__(self, path: Path, timeout: float = 60):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Failure("the scratch Redis closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _bulk(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise Failure(f"scratch Redis: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._bulk(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise Failure(f"scratch Redis: unexpected reply {line[:40]!r}")

    def call(self, *args: str | bytes) -> Any:
        self.sock.sendall(resp(*args))
        return self.reply()

    def pipeline(self, commands: Sequence[Sequence[str | bytes]]) -> list[Any]:
        self.sock.sendall(b"".join(resp(*c) for c in commands))
        return [self.reply() for _ in commands]

    def scan(self, pattern: str = "*") -> Iterator[bytes]:
        cursor = b"0"
        while True:
            cursor, keys = self.call("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            yield from keys
            if cursor == b"0":
                return


def glob_escape(prefix: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", prefix)


def count_prefixes(keys: Iterable[bytes], prefixes: Sequence[str]) -> dict[str, int]:
    """Keys per configured prefix (the longest that matches), the rest under ''."""
    ordered = sorted(prefixes, key=len, reverse=True)
    counts = {p: 0 for p in prefixes}
    counts.setdefault("", 0)
    for key in keys:
        k = key.decode(errors="replace") if isinstance(key, bytes) else key
        for p in ordered:
            if p and k.startswith(p):
                counts[p] += 1
                break
        else:
            counts[""] += 1
    return counts


class LiveRedis:
    """redis-cli inside the running Redis task, authenticated from its own secret file (REDISCLI_AUTH)."""

    def __init__(self, service: str, password_file: str):
        self.service, self.password_file = service, password_file
        self._container: str | None = None

    @property
    def container(self) -> str:
        if not self._container:
            self._container = task_container(self.service)
        return self._container

    def sh(self, script: str, *, stdin: bytes | None = None, stdout: Any = subprocess.PIPE,
           check: bool = True) -> subprocess.CompletedProcess:
        auth = f'export REDISCLI_AUTH="$(cat {self.password_file})"; '
        proc = subprocess.run(["docker", "exec", "-i", self.container, "sh", "-c", auth + script],
                              input=stdin, stdout=stdout, stderr=subprocess.PIPE, check=False)
        if check and proc.returncode != 0:
            raise Failure(f"redis-cli in {self.service}: {last_lines(proc.stderr.decode(errors='replace'))}")
        return proc

    def cli(self, *args: str) -> str:
        quoted = " ".join(shell_quote(a) for a in args)
        return self.sh(f"redis-cli --no-auth-warning {quoted}", stdin=b"").stdout.decode(errors="replace").strip()

    def count(self, prefixes: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
        """Keys per prefix (the longest that matches; '' = the rest) without and with an expiry, counted
        inside Redis in one script (atomic: no write lands between two keys' counts)."""
        args = [p for p in prefixes if p]
        out = self.sh("redis-cli --no-auth-warning EVAL " + shell_quote(COUNT_SCRIPT) + " 0 "
                      + " ".join(shell_quote(p) for p in args), stdin=b"").stdout.decode(errors="replace")
        return parse_counts(out.split("\n"), args)

    def keys(self, pattern: str = "*") -> list[bytes]:
        out = self.sh(f"redis-cli --no-auth-warning --scan --pattern {shell_quote(pattern)}", stdin=b"")
        return [k for k in out.stdout.split(b"\n") if k]

    def bgsave(self, timeout: float = 3600) -> None:
        before = int(self.cli("LASTSAVE") or 0)
        reply = self.cli("BGSAVE", "SCHEDULE")
        if "started" not in reply and "scheduled" not in reply:
            raise Failure(f"Redis refused BGSAVE: {reply}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            info = self.cli("INFO", "persistence")
            done = int(self.cli("LASTSAVE") or 0) > before and "rdb_bgsave_in_progress:0" in info
            if done:
                if "rdb_last_bgsave_status:ok" not in info:
                    raise Failure("Redis BGSAVE failed (rdb_last_bgsave_status is not ok): see the Redis log")
                return
        raise Failure(f"Redis BGSAVE did not finish within {timeout:.0f} s")

    def rdb_path(self) -> str:
        d = self.cli("CONFIG", "GET", "dir").splitlines()
        f = self.cli("CONFIG", "GET", "dbfilename").splitlines()
        return f"{d[-1]}/{f[-1]}"

    def pipe(self, payload_path: Path) -> str:
        with payload_path.open("rb") as fh:
            proc = subprocess.run(["docker", "exec", "-i", self.container, "sh", "-c",
                                   f'export REDISCLI_AUTH="$(cat {self.password_file})"; '
                                   "exec redis-cli --no-auth-warning --pipe"],
                                  stdin=fh, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        out = proc.stdout.decode(errors="replace")
        m = re.search(r"errors: (\d+), replies: (\d+)", out)
        if proc.returncode != 0 or not m or m.group(1) != "0":
            raise Failure(f"loading the keys into {self.service} failed: {last_lines(out, 4)}")
        return out


# Counts the keys per prefix (ARGV, the longest that matches) without and with an expiry; the rest
# under ''. Returns a flat list: prefix, persistent, volatile, ... (the rest last).
COUNT_SCRIPT = (
    "local n = {} for i = 1, #ARGV do n[i] = {0, 0} end local rest = {0, 0} local cursor = '0' repeat "
    "local r = redis.call('SCAN', cursor, 'COUNT', 1000) cursor = r[1] "
    "for _, k in ipairs(r[2]) do local best, len = 0, 0 "
    "for i = 1, #ARGV do local p = ARGV[i] if #p > len and string.sub(k, 1, #p) == p then best, len = i, #p end end "
    "local slot = (redis.call('PTTL', k) >= 0) and 2 or 1 "
    "if best > 0 then n[best][slot] = n[best][slot] + 1 else rest[slot] = rest[slot] + 1 end end "
    "until cursor == '0' local out = {} "
    "for i = 1, #ARGV do table.insert(out, ARGV[i]) table.insert(out, n[i][1]) table.insert(out, n[i][2]) end "
    "table.insert(out, '') table.insert(out, rest[1]) table.insert(out, rest[2]) return out"
)


def parse_counts(lines: Sequence[str], prefixes: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """COUNT_SCRIPT's reply as redis-cli prints it (one element a line) -> (persistent, volatile)."""
    lines = list(lines)
    need = 3 * (len(prefixes) + 1)
    if len(lines) < need:
        raise Failure(f"unexpected reply to the key count: {lines[:6]}")
    persistent: dict[str, int] = {}
    volatile: dict[str, int] = {}
    for i in range(len(prefixes) + 1):
        name, p, v = lines[3 * i:3 * i + 3]
        persistent[name] = int(p)
        volatile[name] = int(v)
    return persistent, volatile


def scratch_counts(rc: RedisSocket, prefixes: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """The same counts in a scratch Redis (each key's PTTL, pipelined over the unix socket)."""
    persistent: list[bytes] = []
    volatile: list[bytes] = []
    keys = list(rc.scan("*"))
    for i in range(0, len(keys), 1000):
        batch = keys[i:i + 1000]
        for key, ttl in zip(batch, rc.pipeline([("PTTL", k) for k in batch]), strict=True):
            if ttl == -1:
                persistent.append(key)
            elif ttl >= 0:
                volatile.append(key)
    return count_prefixes(persistent, prefixes), count_prefixes(volatile, prefixes)


def shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


# Deletes every key matching ARGV[1] (SCAN inside the script: it runs inside the transaction).
UNLINK_SCRIPT = (
    "local n = 0 local cursor = '0' repeat "
    "local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000) cursor = r[1] "
    "for _, k in ipairs(r[2]) do redis.call('UNLINK', k) n = n + 1 end "
    "until cursor == '0' return n"
)


@contextlib.contextmanager
def scratch_redis(image: str, data_dir: Path, name: str) -> Iterator[RedisSocket]:
    """A Redis without network that loads data_dir/dump.rdb and answers on data_dir/redis.sock."""
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, "--label", SCRATCH_LABEL, "--network", "none", "-v", f"{data_dir}:/data",
           image, "redis-server", "--dir", "/data", "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "",
           "--port", "0", "--unixsocket", "/data/redis.sock", "--unixsocketperm", "700")
    sock_path = data_dir / "redis.sock"
    client = None
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if sock_path.exists():
                with contextlib.suppress(OSError, Failure):
                    client = RedisSocket(sock_path)
                    if client.call("PING") == "PONG":
                        break
            state = docker("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip()
            if state != "true":
                logs = docker("logs", "--tail", "5", name, check=False)
                raise Failure(f"the scratch Redis stopped: {last_lines(logs.stdout + logs.stderr)}")
            time.sleep(0.5)
        else:
            raise Failure("the scratch Redis did not answer within 600 s")
        assert client is not None
        yield client
    finally:
        if client:
            client.close()
        docker("rm", "-f", name, check=False)


# --------------------------------------------------------------------------------------- status
def read_status(cfg: Config) -> dict[str, Any]:
    try:
        data = json.loads(cfg.status_file.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_status(cfg: Config, section: str, record: dict[str, Any]) -> None:
    """Replace one section (backup, check, drill, restore) of the status file, atomically. The file
    holds no secret; monitoring reads it (0644)."""
    data = read_status(cfg)
    previous = data.get(section) or {}
    if section == "backup":  # keep, per repository, the last run that succeeded there
        last_ok = dict(previous.get("last_success") or {})
        for name, r in (record.get("repositories") or {}).items():
            if r.get("result") == "ok":
                last_ok[name] = {"time": record.get("finished"), "snapshot": r.get("snapshot")}
        record["last_success"] = last_ok
    data[section] = record
    data["host"] = cfg.host_id
    data["updated"] = now_iso()
    tmp = cfg.status_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, cfg.status_file)


# --------------------------------------------------------------------------------------- locking
@contextlib.contextmanager
def locked(cfg: Config, wait: float) -> Iterator[None]:
    """One backup, check, drill or restore at a time on this host."""
    path = cfg.state_dir / "lock"
    with open(path, "w") as fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Failure(f"another bizosaas-backup run holds {path} (waited {wait:.0f} s): "
                                  "see systemctl list-units 'bizosaas-backup*'") from None
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def clean_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    os.chmod(path, 0o700)


# --------------------------------------------------------------------------------------- backup
def selected_platforms(cfg: Config, names: Sequence[str]) -> list[Platform]:
    if not names:
        return list(cfg.platforms)
    return [cfg.platform(n) for n in names]


def dump_everything(cfg: Config, platforms: list[Platform], whole: bool, steps: Steps) -> dict[str, Any]:
    """Stage the dumps of this run under cfg.dumps; return the manifest (also written there)."""
    clean_dir(cfg.dumps)
    manifest: dict[str, Any] = {
        "format": 1, "host": cfg.host_id, "created": now_iso(), "whole": whole,
        "run": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "platforms": {}, "databases": {}, "redis": None, "dokploy": None, "volumes": {}, "paths": {},
        "failed": [],
    }
    pg = Postgres(cfg.postgres_service, cfg.postgres_superuser)
    wanted_dbs = cfg.databases if whole else [p.database for p in platforms if p.database]
    (cfg.dumps / "postgres").mkdir()
    if whole:
        try:
            with steps.step("postgres: roles (pg_dumpall --globals-only)") as s:
                pg.dumpall_globals(cfg.dumps / "postgres" / "globals.sql")
                s.bytes = (cfg.dumps / "postgres" / "globals.sql").stat().st_size
        except Failure as exc:
            manifest["failed"].append(f"postgres globals: {exc}")
    for db in wanted_dbs:
        try:
            with steps.step(f"postgres: {db} (pg_dump -Fc)") as s:
                settings = pg.db_settings(db)
                if settings is None:
                    raise Failure(f"database {db} does not exist in {cfg.postgres_service}")
                path = cfg.dumps / "postgres" / f"{db}.dump"
                fp = pg.dump(db, path)
                s.bytes = path.stat().st_size
                s.detail = f"{len(fp)} tables, {sum(int(v[0]) for v in fp.values())} rows"
                manifest["databases"][db] = {"bytes": s.bytes, "settings": settings, "tables": fp}
        except Failure as exc:
            manifest["failed"].append(f"postgres {db}: {exc}")
    prefixes = [p.redis_prefix for p in cfg.platforms if p.redis_prefix]
    try:
        with steps.step("redis: BGSAVE and copy") as s:
            live = LiveRedis(cfg.redis_service, cfg.redis_password_file)
            before, volatile = live.count(prefixes)
            live.bgsave()
            after, _ = live.count(prefixes)
            (cfg.dumps / "redis").mkdir()
            dest = cfg.dumps / "redis" / "dump.rdb"
            with dest.open("wb") as fh:
                proc = subprocess.run(["docker", "exec", live.container, "cat", live.rdb_path()], stdout=fh,
                                      stderr=subprocess.PIPE, check=False)
            if proc.returncode != 0:
                raise Failure(f"copying the RDB file: {last_lines(proc.stderr.decode(errors='replace'))}")
            s.bytes = dest.stat().st_size
            s.detail = ", ".join(f"{p or '(other)'} {n}" for p, n in before.items()) + " keys without expiry"
            # The RDB was written between the two counts (persistent keys; keys with an expiry may
            # be gone by the time a copy is loaded).
            manifest["redis"] = {"bytes": s.bytes, "keys": before, "keys_after": after, "volatile": volatile}
    except Failure as exc:
        manifest["failed"].append(f"redis: {exc}")
    if whole and cfg.dokploy and cfg.dokploy.get("service"):
        try:
            with steps.step(f"dokploy: {cfg.dokploy['database']} (pg_dump -Fc)") as s:
                if not service_exists(cfg.dokploy["service"]):
                    s.detail = f"{cfg.dokploy['service']} is not deployed: nothing to dump"
                else:
                    dpg = Postgres(cfg.dokploy["service"], cfg.dokploy["user"])
                    (cfg.dumps / "dokploy").mkdir()
                    path = cfg.dumps / "dokploy" / f"{cfg.dokploy['database']}.dump"
                    fp = dpg.dump(cfg.dokploy["database"], path)
                    s.bytes = path.stat().st_size
                    manifest["dokploy"] = {"database": cfg.dokploy["database"], "bytes": s.bytes, "tables": fp,
                                           "settings": dpg.db_settings(cfg.dokploy["database"])}
        except Failure as exc:
            manifest["failed"].append(f"dokploy: {exc}")
    volumes = [v for p in platforms for v in p.volumes] + (cfg.volumes if whole else [])
    for v in volumes:
        mp = volume_mountpoint(v)
        manifest["volumes"][v] = {"path": str(mp) if mp else "", "exists": bool(mp)}
        if not mp:
            log(f"volume {v} does not exist (yet): nothing to back up")
    if whole:
        for p in cfg.paths:
            manifest["paths"][p] = {"exists": os.path.exists(p)}
    failed_dbs = {f.split(":")[0].removeprefix("postgres ") for f in manifest["failed"]}
    for p in platforms:
        complete = (not p.database or p.database not in failed_dbs) and manifest["redis"] is not None
        manifest["platforms"][p.name] = {"database": p.database, "redis_prefix": p.redis_prefix,
                                         "volumes": p.volumes, "complete": complete}
    (cfg.dumps / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def backup_paths(cfg: Config, manifest: dict[str, Any]) -> list[str]:
    paths = [str(cfg.dumps)]
    paths += [v["path"] for v in manifest["volumes"].values() if v["exists"]]
    paths += [p for p, v in manifest["paths"].items() if v["exists"]]
    return paths


def backup_tags(kind: str, manifest: dict[str, Any]) -> list[str]:
    tags = ["bizosaas", f"kind:{kind}", f"run:{manifest['run']}"]
    tags += [f"platform:{name}" for name, p in sorted(manifest["platforms"].items()) if p["complete"]]
    # 'whole': everything, complete (what -e target=all restores); 'platforms': some platforms only,
    # or a whole run where an item failed ('partial' too). The two are kept by different rules.
    tags.append("whole" if manifest["whole"] and not manifest["failed"] else "platforms")
    if manifest["failed"]:
        tags.append("partial")
    return tags


def cmd_run(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    started, t0 = now_iso(), time.monotonic()
    steps = Steps()
    platforms = selected_platforms(cfg, args.platform)
    repos = [cfg.repo(r) for r in args.repository] if args.repository else cfg.repositories
    whole = not args.platform
    record: dict[str, Any] = {"result": "failed", "started": started, "kind": args.kind, "repositories": {},
                              "platforms": [p.name for p in platforms], "whole": whole}
    try:
        with locked(cfg, wait=args.wait):
            try:
                manifest = dump_everything(cfg, platforms, whole, steps)
                record["items_failed"] = manifest["failed"]
                record["dump_bytes"] = sum(s.bytes or 0 for s in steps)
                paths, tags = backup_paths(cfg, manifest), backup_tags(args.kind, manifest)
                for repo in repos:
                    r = Restic(cfg, repo)
                    rec: dict[str, Any] = {"result": "failed"}
                    record["repositories"][repo.name] = rec
                    try:
                        with steps.step(f"restic backup to {repo.name}") as s:
                            r.ensure(create=True)
                            summary, errors = r.stream(
                                ["backup", "--json", "--host", cfg.host_id, "--compression", cfg.compression,
                                 *[a for t in tags for a in ("--tag", t)], *paths], what="backup")
                            rec.update(snapshot=summary.get("snapshot_id", "")[:8],
                                       snapshot_id=summary.get("snapshot_id", ""),
                                       processed_bytes=summary.get("total_bytes_processed"),
                                       added_bytes=summary_added(summary),
                                       files_new=summary.get("files_new"), files_changed=summary.get("files_changed"),
                                       seconds=summary.get("total_duration"), errors=errors)
                            s.bytes = rec["added_bytes"]
                            s.detail = (f"snapshot {rec['snapshot']}, {human_bytes(rec['processed_bytes'])} read, "
                                        f"{human_bytes(rec['added_bytes'])} added")
                            if not rec["snapshot_id"]:
                                raise Failure(f"repository {r.describe()}: restic reported no snapshot: {errors}")
                        with steps.step(f"retention on {repo.name}"):
                            forget(r, cfg, prune=False)
                        rec["result"] = "ok"
                    except Failure as exc:
                        rec["error"] = str(exc)
                    except subprocess.TimeoutExpired as exc:
                        rec["error"] = f"repository {repo.name}: restic timed out ({exc.timeout} s)"
            finally:
                if cfg.dumps.exists():
                    shutil.rmtree(cfg.dumps)
    except Failure as exc:
        record["error"] = str(exc)
    oks = [n for n, r in record["repositories"].items() if r.get("result") == "ok"]
    bad = [n for n, r in record["repositories"].items() if r.get("result") != "ok"]
    if oks and not bad and not record.get("items_failed") and "error" not in record:
        record["result"] = "ok"
    elif oks:
        record["result"] = "partial"
    record["failed_repositories"] = bad
    record["finished"] = now_iso()
    record["duration_s"] = round(time.monotonic() - t0, 1)
    record["steps"] = [s.__dict__ for s in steps]
    write_status(cfg, "backup", record)
    return record


def forget(r: Restic, cfg: Config, prune: bool) -> None:
    """The retention policy, per class: complete whole backups by day, week and month; backups of some
    platforms only (make backup PLATFORM=, the dump before a redeploy, a run where an item failed) all
    within a period, so one of them never makes restic forget the day's whole backup."""
    extra = ["--prune"] if prune else []
    r.call("forget", "--host", cfg.host_id, "--tag", "bizosaas,whole", "--group-by", "host", *extra,
           *retention_args(cfg.retention), what="forget", timeout=6 * 3600)
    r.call("forget", "--host", cfg.host_id, "--tag", "bizosaas,platforms", "--group-by", "host", *extra,
           "--keep-within", cfg.platforms_within, what="forget", timeout=6 * 3600)


def retention_args(retention: dict[str, int]) -> list[str]:
    out = []
    for unit in ("hourly", "daily", "weekly", "monthly", "yearly"):
        n = int(retention.get(unit, 0))
        if n > 0:
            out += [f"--keep-{unit}", str(n)]
    if not out:
        raise Failure("the retention policy keeps nothing (backup_keep_* are all 0)")
    return out


def cmd_check(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    t0, steps = time.monotonic(), Steps()
    record: dict[str, Any] = {"result": "failed", "started": now_iso(), "repositories": {}}
    repos = [cfg.repo(r) for r in args.repository] if args.repository else cfg.repositories
    try:
        with locked(cfg, wait=args.wait):
            for repo in repos:
                r = Restic(cfg, repo)
                rec: dict[str, Any] = {"result": "failed"}
                record["repositories"][repo.name] = rec
                try:
                    with steps.step(f"forget and prune {repo.name} ({' '.join(retention_args(cfg.retention))}; "
                                    f"platform-only snapshots: --keep-within {cfg.platforms_within})"):
                        forget(r, cfg, prune=True)
                    with steps.step(f"restic check {repo.name}") as s:
                        extra = ["--read-data-subset", cfg.check_read_data_subset] if cfg.check_read_data_subset else []
                        proc = r.call("check", *extra, what="check", timeout=12 * 3600)
                        s.detail = last_lines(proc.stdout, 1)
                    rec["result"] = "ok"
                except Failure as exc:
                    rec["error"] = str(exc)
    except Failure as exc:
        record["error"] = str(exc)
    if record["repositories"] and all(r["result"] == "ok" for r in record["repositories"].values()):
        record["result"] = "ok"
    record.update(finished=now_iso(), duration_s=round(time.monotonic() - t0, 1), steps=[s.__dict__ for s in steps])
    write_status(cfg, "check", record)
    return record


def cmd_repositories(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"result": "ok", "repositories": {}}
    for repo in cfg.repositories:
        try:
            state = Restic(cfg, repo).ensure(create=args.init)
            out["repositories"][repo.name] = {"result": state}
        except Failure as exc:
            out["result"] = "failed"
            out["repositories"][repo.name] = {"result": "failed", "error": str(exc),
                                              "kind": restic_error_kind(str(exc), 1)}
    return out


# --------------------------------------------------------------------------------------- snapshots
def short(snap: dict[str, Any]) -> dict[str, Any]:
    tags = snap.get("tags") or []
    return {
        "id": snap.get("short_id") or snap.get("id", "")[:8],
        "full_id": snap.get("id"),
        "time": (snap.get("time") or "")[:19].replace("T", " "),
        "host": snap.get("hostname"),
        "kind": next((t.split(":", 1)[1] for t in tags if t.startswith("kind:")), "?"),
        "platforms": [t.split(":", 1)[1] for t in tags if t.startswith("platform:")],
        "whole": "whole" in tags,
        "partial": "partial" in tags,
    }


def list_snapshots(cfg: Config, repos: Sequence[Repository],
                   host: str | None) -> tuple[dict[str, list], dict[str, str]]:
    found: dict[str, list] = {}
    errors: dict[str, str] = {}
    for repo in repos:
        try:
            found[repo.name] = Restic(cfg, repo).snapshots(host, ["bizosaas"])
        except Failure as exc:
            errors[repo.name] = str(exc)
    return found, errors


def cmd_snapshots(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    repos = [cfg.repo(args.repository)] if args.repository else cfg.repositories
    found, errors = list_snapshots(cfg, repos, args.host or cfg.host_id)
    out = {"result": "ok" if not errors else "partial", "host": args.host or cfg.host_id,
           "repositories": {}, "errors": errors}
    for name, snaps in found.items():
        rows = [short(s) for s in snaps]
        if args.platform:
            rows = [r for r in rows if args.platform in r["platforms"]]
        out["repositories"][name] = rows
    return out


def snapshot_table(out: dict[str, Any]) -> str:
    lines = []
    for name, rows in out["repositories"].items():
        lines.append(f"repository {name}: {len(rows)} snapshot(s) of {out['host']}")
        for r in rows:
            flags = ("whole" if r["whole"] else "platforms only") + (", PARTIAL" if r["partial"] else "")
            lines.append(f"  {r['id']}  {r['time']}  {r['kind']:<9}  {', '.join(r['platforms']) or '-'}  ({flags})")
    for name, err in out.get("errors", {}).items():
        lines.append(f"repository {name}: UNAVAILABLE: {err}")
    return "\n".join(lines)


def run_key(snap: dict[str, Any]) -> str:
    """Which backup run a snapshot belongs to (its run: tag; its time for snapshots without one)."""
    return next((t[4:] for t in snap.get("tags") or [] if t.startswith("run:")), "") or snap.get("time", "")


def newest(repos: Sequence[Repository], found: dict[str, list], holds: Any) -> tuple[Repository, dict] | None:
    """The newest run's snapshot that `holds`; of its copies, the one in the first repository listed
    (the local one: the fastest to restore)."""
    best: tuple[Repository, dict[str, Any]] | None = None
    for repo in repos:
        for s in found.get(repo.name, []):
            if holds(s) and (best is None or run_key(s) > run_key(best[1])):
                best = (repo, s)
    return best


def choose_snapshot(cfg: Config, snapshot: str, repository: str | None, host: str | None,
                    platform: str | None, whole: bool) -> tuple[Repository, dict[str, Any]]:
    """The snapshot to restore: an ID (searched in each repository) or the newest one that holds
    the platform (or everything, for --all). Refuses naming what exists instead."""
    host = host or cfg.host_id
    repos = [cfg.repo(repository)] if repository else cfg.repositories
    found, errors = list_snapshots(cfg, repos, host)
    if not found:
        raise Failure("no repository could be read: " + " | ".join(errors.values()))

    def holds(s: dict[str, Any]) -> bool:
        tags = s.get("tags") or []
        return ("whole" in tags) if whole else (f"platform:{platform}" in tags)

    what = "everything (a whole backup)" if whole else f"platform {platform}"
    if snapshot and snapshot != "latest":
        for repo in repos:
            for s in found.get(repo.name, []):
                if s.get("id", "").startswith(snapshot) or s.get("short_id") == snapshot:
                    if not holds(s):
                        sh = short(s)
                        better = newest(repos, found, holds)
                        hint = (f" The newest snapshot that holds it is {short(better[1])['id']} "
                                f"({short(better[1])['time']}, repository {better[0].name})."
                                if better else " No snapshot of this host holds it.")
                        raise Refusal(f"snapshot {sh['id']} ({sh['time']}, repository {repo.name}) does not hold "
                                      f"{what}: it holds {', '.join(sh['platforms']) or 'no platform'}"
                                      f"{' (partial)' if sh['partial'] else ''}.{hint} Nothing was changed.")
                    return repo, s
        raise Refusal(f"no snapshot {snapshot} of host {host} in {', '.join(found)}"
                      + (f" (unreadable: {', '.join(errors)})" if errors else "")
                      + ". List them with make backups. Nothing was changed.")
    best = newest(repos, found, holds)
    if best is None:
        raise Refusal(f"no snapshot of host {host} holds {what} in {', '.join(found)}"
                      + (f" (unreadable: {'; '.join(errors.values())})" if errors else "")
                      + ". Nothing was changed.")
    return best


# --------------------------------------------------------------------------------------- restore
def stack_services(stack: str) -> dict[str, int]:
    """Replicated services of a stack and their desired replicas."""
    names = docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={stack}",
                   "--format", "{{.Name}}").stdout.split()
    out: dict[str, int] = {}
    for name in names:
        spec = json.loads(docker("service", "inspect", name).stdout)[0]["Spec"]
        replicated = (spec.get("Mode") or {}).get("Replicated")
        if replicated is not None:
            out[name] = int(replicated.get("Replicas", 1))
    return out


def scale(services: dict[str, int]) -> None:
    if services:
        docker("service", "scale", "--detach", *[f"{k}={v}" for k, v in services.items()])


def wait_stopped(services: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [s for s in services if docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={s}",
                                                 check=False).stdout.strip()]
        if not running:
            return
        time.sleep(1)
    raise Failure(f"the services {', '.join(services)} did not stop within {timeout:.0f} s")


def wait_running(services: dict[str, int], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    lagging: list[str] = []
    while time.monotonic() < deadline:
        lagging = []
        rows = dict(line.split(" ", 1) for line in docker("service", "ls", "--format", "{{.Name}} {{.Replicas}}",
                                                          check=False).stdout.splitlines() if " " in line)
        for name, want in services.items():
            have = rows.get(name, "0/0").split(" ")[0].split("/")[0]
            if int(have or 0) < want:
                lagging.append(name)
        if not lagging:
            return []
        time.sleep(2)
    return lagging


@dataclass
class Plan:
    """What a restore would do, read before any change."""

    repository: str
    snapshot: dict[str, Any]
    whole: bool
    platforms: list[Platform]
    databases: list[str]
    needs: list[str] = field(default_factory=list)  # the confirm words needed
    reasons: list[str] = field(default_factory=list)
    stacks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "snapshot": short(self.snapshot), "whole": self.whole,
                "platforms": [p.name for p in self.platforms], "databases": self.databases,
                "confirm_words": self.needs, "would_overwrite": self.reasons, "stacks": self.stacks}


def make_plan(cfg: Config, args: argparse.Namespace) -> tuple[Plan, Repository]:
    whole = bool(args.all)
    if not whole and not args.platform:
        raise Refusal("name a platform (--platform) or restore everything (--all)")
    platforms = list(cfg.platforms) if whole else [cfg.platform(args.platform)]
    repo, snap = choose_snapshot(cfg, args.snapshot, args.repository, args.host,
                                 None if whole else args.platform, whole)
    snap_platforms = short(snap)["platforms"]
    if whole:
        platforms = [p for p in platforms if p.name in snap_platforms]
    dbs = list(cfg.databases) if whole else [p.database for p in platforms if p.database]
    plan = Plan(repository=repo.name, snapshot=snap, whole=whole, platforms=platforms, databases=dbs,
                stacks=[p.stack for p in platforms if p.stack])
    pg = Postgres(cfg.postgres_service, cfg.postgres_superuser)
    for db in dbs:
        if pg.exists(db) and pg.user_tables(db) > 0:
            plan.needs.append(f"overwrite-{db}")
            plan.reasons.append(f"database {db} has {pg.user_tables(db)} table(s)")
    live = LiveRedis(cfg.redis_service, cfg.redis_password_file)
    for p in platforms:
        word = f"overwrite-{p.database or p.name}"
        if p.redis_prefix:
            n = len(live.keys(glob_escape(p.redis_prefix) + "*"))
            if n:
                plan.reasons.append(f"Redis has {n} key(s) under {p.redis_prefix}")
                if word not in plan.needs:
                    plan.needs.append(word)
        for v in p.volumes:
            mp = volume_mountpoint(v)
            if mp and mp.exists() and any(mp.iterdir()):
                plan.reasons.append(f"volume {v} is not empty")
                if word not in plan.needs:
                    plan.needs.append(word)
    if whole:
        n_other = len([k for k in live.keys("*")
                       if not any(k.decode(errors="replace").startswith(p.redis_prefix) for p in cfg.platforms
                                  if p.redis_prefix)])
        if n_other:
            plan.needs.append("overwrite-redis")
            plan.reasons.append(f"Redis has {n_other} key(s) outside the platforms' prefixes")
        if cfg.dokploy and cfg.dokploy.get("service") and service_exists(cfg.dokploy["service"]):
            dpg = Postgres(cfg.dokploy["service"], cfg.dokploy["user"])
            ddb = cfg.dokploy["database"]
            if dpg.exists(ddb) and dpg.user_tables(ddb) > 0:
                plan.needs.append(f"overwrite-{ddb}")
                plan.reasons.append(f"Dokploy's database {ddb} has {dpg.user_tables(ddb)} table(s)")
    return plan, repo


def cmd_plan(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    plan, _ = make_plan(cfg, args)
    given = [w.strip() for w in (args.confirm or "").split(",") if w.strip()]
    out = plan.as_dict()
    out["missing_words"] = [w for w in plan.needs if w not in given]
    out["result"] = "ok"
    return out


def confirm_or_refuse(plan: Plan, confirm: str | None) -> None:
    given = [w.strip() for w in (confirm or "").split(",") if w.strip()]
    missing = [w for w in plan.needs if w not in given]
    if missing:
        raise Refusal(
            "refusing to overwrite live data without its confirm word: " + "; ".join(plan.reasons)
            + ". To overwrite it, pass exactly -e confirm=" + ",".join(plan.needs)
            + f" (snapshot {short(plan.snapshot)['id']} of {short(plan.snapshot)['time']}). Nothing was changed.")


def restic_restore(cfg: Config, repo: Repository, snap: dict[str, Any], target: Path,
                   includes: Sequence[str], steps: Steps) -> None:
    clean_dir(target)
    with steps.step(f"restic restore {short(snap)['id']} from {repo.name}") as s:
        r = Restic(cfg, repo)
        r.call("restore", snap["id"], "--target", str(target), *[a for i in includes for a in ("--include", i)],
               what="restore", timeout=12 * 3600)
        s.bytes = dir_size(target)


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def inside(target: Path, path: str) -> Path:
    return target / path.lstrip("/")


@dataclass
class Swap:
    """A prepared replacement and how to undo it once applied."""

    kind: str
    name: str
    new: str
    old: str
    applied: bool = False


def prepare_database(pg: Postgres, db: str, dump: Path, info: dict[str, Any], steps: Steps,
                     label: str) -> Swap:
    stamp = time.strftime("%Y%m%d%H%M%S")
    new, old = f"{db}_bkp_new", f"{db}_bkp_old_{stamp}"
    if len(old) > 63:
        raise Failure(f"database name {db} is too long for a restore beside it (63 characters with _bkp_old_<time>)")
    with steps.step(f"{label}: restore {db} into {new} and compare with the backup's fingerprint") as s:
        pg.drop(new)
        live = pg.db_settings(db)
        settings = live or info.get("settings")
        if not settings:
            raise Failure(f"the backup does not say who owns {db}, and it does not exist here")
        pg.create_like(new, settings, db if live else None)
        try:
            pg.restore_into(dump, new)
            diff = fingerprint_diff(info.get("tables") or {}, pg.fingerprint(new))
            if diff:
                raise Failure(f"the restored copy of {db} differs from the backup's fingerprint: {'; '.join(diff[:5])}")
        except BaseException:
            pg.drop(new)
            raise
        s.bytes = dump.stat().st_size
        s.detail = f"{len(info.get('tables') or {})} tables identical to the backup"
    return Swap("database", db, new, old)


def swap_database(pg: Postgres, sw: Swap) -> None:
    if pg.exists(sw.name):
        pg.psql("postgres", f"ALTER DATABASE {sql_ident(sw.name)} WITH ALLOW_CONNECTIONS false;")
        try:
            pg.rename(sw.name, sw.old)
        except BaseException:
            pg.psql("postgres", f"ALTER DATABASE {sql_ident(sw.name)} WITH ALLOW_CONNECTIONS true;", check=False)
            raise
    else:
        sw.old = ""
    pg.rename(sw.new, sw.name)
    sw.applied = True


def undo_database(pg: Postgres, sw: Swap) -> None:
    if not sw.applied:
        return
    pg.rename(sw.name, sw.new)
    if sw.old:
        pg.rename(sw.old, sw.name)
        pg.psql("postgres", f"ALTER DATABASE {sql_ident(sw.name)} WITH ALLOW_CONNECTIONS true;", check=False)
    pg.drop(sw.new)
    sw.applied = False


def prepare_redis(cfg: Config, image: str, rdb_dir: Path, prefixes: Sequence[str], steps: Steps,
                  payload: Path) -> dict[str, int]:
    """Read the keys under the prefixes ('' = every key) from the backup's RDB in a scratch Redis and
    write one transaction that deletes the live keys under them and restores the backup's."""
    with steps.step("redis: read the backup's keys in a scratch Redis") as s, \
            scratch_redis(image, rdb_dir, "bizosaas-backup-restore-redis") as rc:
        counts: dict[str, int] = {}
        details: list[str] = []
        with payload.open("wb") as fh:
            fh.write(resp("MULTI"))
            for prefix in prefixes:
                pattern = glob_escape(prefix) + "*"
                fh.write(resp("EVAL", UNLINK_SCRIPT, "0", pattern))
                keys = list(rc.scan(pattern))
                counts[prefix] = 0
                expiring = 0
                for i in range(0, len(keys), 500):
                    batch = keys[i:i + 500]
                    replies = rc.pipeline([c for k in batch for c in (("PTTL", k), ("DUMP", k))])
                    for k, ttl, payload_bytes in zip(batch, replies[0::2], replies[1::2], strict=True):
                        if payload_bytes is None or ttl == -2:
                            continue
                        fh.write(resp("RESTORE", k, str(max(int(ttl), 0)), payload_bytes, "REPLACE"))
                        if ttl == -1:
                            counts[prefix] += 1
                        else:
                            expiring += 1
                details.append(f"{prefix or '(all)'} {counts[prefix]} keys + {expiring} with an expiry")
            fh.write(resp("EXEC"))
        s.bytes = payload.stat().st_size
        s.detail = ", ".join(details)
    return counts


def prepare_volume(name: str, restored: Path, stack: str) -> Swap:
    mp = volume_mountpoint(name)
    if mp is None:
        docker("volume", "create", "--label", f"com.docker.stack.namespace={stack}", name)
        mp = volume_mountpoint(name)
    assert mp is not None
    new = mp.parent / "_data.bizosaas-restore"
    if new.exists():
        shutil.rmtree(new)
    run(["cp", "-a", "--", str(restored), str(new)])
    return Swap("volume", name, str(new), str(mp.parent / f"_data.bizosaas-previous-{time.strftime('%Y%m%d%H%M%S')}"))


def swap_volume(sw: Swap) -> None:
    mp = volume_mountpoint(sw.name)
    assert mp is not None
    os.rename(mp, sw.old)
    os.rename(sw.new, mp)
    sw.applied = True


def undo_volume(sw: Swap) -> None:
    if not sw.applied:
        return
    mp = volume_mountpoint(sw.name)
    assert mp is not None
    os.rename(mp, sw.new)
    os.rename(sw.old, mp)
    shutil.rmtree(sw.new, ignore_errors=True)
    sw.applied = False


def replace_path(restored: Path, path: str) -> None:
    """Put a restored host file or folder in place (the previous one is removed after)."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.bizosaas-restore"
    old = dest.parent / f".{dest.name}.bizosaas-previous"
    for p in (tmp, old):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    run(["cp", "-a", "--", str(restored), str(tmp)])
    if dest.exists() or dest.is_symlink():
        os.rename(dest, old)
    os.rename(tmp, dest)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    elif old.exists() or old.is_symlink():
        old.unlink()


def cmd_restore(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    t0, steps = time.monotonic(), Steps()
    record: dict[str, Any] = {"result": "failed", "started": now_iso(), "live_changed": False}
    try:
        with locked(cfg, wait=args.wait):
            plan, repo = make_plan(cfg, args)
            record.update(plan.as_dict())
            confirm_or_refuse(plan, args.confirm)
            restore_dir = cfg.state_dir / "restore"
            try:
                restore_plan(cfg, args, plan, repo, restore_dir, steps, record)
            finally:
                remove_scratch()
                if restore_dir.exists():
                    shutil.rmtree(restore_dir)
    except Refusal as exc:
        record["result"] = "refused"
        record["error"] = str(exc)
    except Failure as exc:
        record["error"] = str(exc)
    record.update(finished=now_iso(), duration_s=round(time.monotonic() - t0, 1), steps=[s.__dict__ for s in steps])
    write_status(cfg, "restore", record)
    return record


def restore_plan(cfg: Config, args: argparse.Namespace, plan: Plan, repo: Repository, restore_dir: Path,
                 steps: Steps, record: dict[str, Any]) -> None:
    dumps = inside(restore_dir, str(cfg.dumps))
    includes = [str(cfg.dumps / "manifest.json")]
    includes += [str(cfg.dumps / "postgres" / f"{db}.dump") for db in plan.databases]
    includes.append(str(cfg.dumps / "redis" / "dump.rdb"))
    if plan.whole:
        includes += [str(cfg.dumps / "postgres" / "globals.sql"), str(cfg.dumps / "dokploy")]
    # the volumes as the backup's host had them (their mountpoints are in the manifest)
    restic_restore(cfg, repo, plan.snapshot, restore_dir, includes, steps)
    manifest = json.loads((dumps / "manifest.json").read_text())
    vol_paths = {v: info["path"] for v, info in manifest.get("volumes", {}).items() if info.get("exists")}
    wanted_vols = [v for p in plan.platforms for v in p.volumes if v in vol_paths]
    if plan.whole:
        wanted_vols += [v for v in cfg.volumes if v in vol_paths]
    extra = [vol_paths[v] for v in wanted_vols]
    if plan.whole:
        extra += [p for p, info in manifest.get("paths", {}).items() if info.get("exists")]
    if extra:
        with steps.step("restic restore: volumes and host files") as s:
            Restic(cfg, repo).call("restore", plan.snapshot["id"], "--target", str(restore_dir),
                                   *[a for i in extra for a in ("--include", i)], what="restore", timeout=12 * 3600)
            s.detail = ", ".join(wanted_vols + ([f"{len(extra) - len(wanted_vols)} host paths"] if plan.whole else []))
    missing = [db for db in plan.databases if db not in manifest.get("databases", {})]
    if missing:
        raise Refusal(f"snapshot {short(plan.snapshot)['id']} has no dump of {', '.join(missing)}. "
                      "Nothing was changed.")

    pg = Postgres(cfg.postgres_service, cfg.postgres_superuser)
    swaps: list[Swap] = []
    dokploy_swap: Swap | None = None
    dpg: Postgres | None = None
    stopped: dict[str, int] = {}
    prefixes = [""] if plan.whole else [p.redis_prefix for p in plan.platforms if p.redis_prefix]
    payload = restore_dir / "redis-restore.resp"
    try:
        # 1. everything prepared beside the live data: a failure here changes nothing live
        if plan.whole:
            with steps.step("postgres: roles (globals)") as s:
                errs = pg.apply_globals(dumps / "postgres" / "globals.sql")
                s.detail = f"{len(errs)} error(s) other than 'already exists'" + (f": {errs[:3]}" if errs else "")
        for db in plan.databases:
            swaps.append(prepare_database(pg, db, dumps / "postgres" / f"{db}.dump", manifest["databases"][db],
                                          steps, "postgres"))
        if plan.whole and manifest.get("dokploy") and cfg.dokploy and service_exists(cfg.dokploy["service"]):
            dpg = Postgres(cfg.dokploy["service"], cfg.dokploy["user"])
            dokploy_swap = prepare_database(dpg, cfg.dokploy["database"],
                                            dumps / "dokploy" / f"{cfg.dokploy['database']}.dump",
                                            manifest["dokploy"], steps, "dokploy")
        redis_counts: dict[str, int] = {}
        if prefixes and manifest.get("redis"):
            rdb_dir = restore_dir / "redis-scratch"
            rdb_dir.mkdir(mode=0o700)
            shutil.copy2(dumps / "redis" / "dump.rdb", rdb_dir / "dump.rdb")
            redis_counts = prepare_redis(cfg, service_image(cfg.redis_service), rdb_dir, prefixes, steps, payload)
        stacks = {p.stack: p for p in plan.platforms if p.stack}
        with steps.step("volumes: copy beside the live ones") as s:
            for v in wanted_vols:
                owner = next((p.stack for p in plan.platforms if v in p.volumes), "")
                swaps.append(prepare_volume(v, inside(restore_dir, vol_paths[v]), owner))
            s.detail = ", ".join(wanted_vols) or "none"

        # 2. stop the platforms' services (and Dokploy for its database), swap, start them again
        with steps.step("stop: scale the services to 0") as s:
            for stack in stacks:
                stopped.update(stack_services(stack))
            if dokploy_swap and cfg.dokploy:
                for svc in cfg.dokploy.get("services") or []:
                    if service_exists(svc):
                        stopped.update({svc: json.loads(docker("service", "inspect", svc).stdout)[0]["Spec"]
                                        .get("Mode", {}).get("Replicated", {}).get("Replicas", 1)})
            scale({k: 0 for k in stopped})
            wait_stopped(list(stopped), timeout=cfg.start_timeout)
            s.detail = ", ".join(f"{k} ({v})" for k, v in stopped.items()) or "no service deployed"
        applied = [*swaps, *([dokploy_swap] if dokploy_swap else [])]
        lagging: list[str] = []
        try:
            with steps.step("swap: the restored databases in place of the live ones") as s:
                for sw in swaps:
                    if sw.kind == "database":
                        swap_database(pg, sw)
                        record["live_changed"] = True
                if dokploy_swap and dpg:
                    swap_database(dpg, dokploy_swap)
                    record["live_changed"] = True
                s.detail = ", ".join(sw.name for sw in applied if sw.kind == "database") or "none"
            with steps.step("check: the live databases equal the backup (their services still stopped)") as s:
                problems = []
                for sw in swaps:
                    if sw.kind == "database":
                        problems += [f"{sw.name}: {d}" for d in fingerprint_diff(
                            manifest["databases"][sw.name]["tables"], pg.fingerprint(sw.name))]
                if dokploy_swap and dpg:
                    problems += [f"{dokploy_swap.name}: {d}" for d in fingerprint_diff(
                        manifest["dokploy"]["tables"], dpg.fingerprint(dokploy_swap.name))]
                if problems:
                    raise Failure("after the swap the live databases differ from the backup: "
                                  + "; ".join(problems[:6]))
                s.detail = "every table's row count and checksum"
            with steps.step("swap: the restored volumes in place of the live ones") as s:
                for sw in swaps:
                    if sw.kind == "volume":
                        swap_volume(sw)
                s.detail = ", ".join(sw.name for sw in swaps if sw.kind == "volume") or "none"
            if redis_counts:
                with steps.step("redis: the backup's keys in one transaction, then counted") as s:
                    live = LiveRedis(cfg.redis_service, cfg.redis_password_file)
                    live.pipe(payload)
                    record["live_changed"] = True
                    have, _ = live.count([p.redis_prefix for p in cfg.platforms if p.redis_prefix])
                    wrong = [f"{p or '(all)'}: {have.get(p, 0) if p else sum(have.values())} keys, the backup has {n}"
                             for p, n in redis_counts.items() if (have.get(p, 0) if p else sum(have.values())) != n]
                    if wrong:
                        raise Failure("after the restore Redis differs from the backup (keys without expiry): "
                                      + "; ".join(wrong))
                    s.detail = ", ".join(f"{p or '(all)'} {n} keys without expiry" for p, n in redis_counts.items())
        except BaseException:
            log("the restore failed after the swap began: putting the previous databases and volumes back")
            for sw in reversed(applied):
                with contextlib.suppress(Exception):
                    if sw.kind == "volume":
                        undo_volume(sw)
                    else:
                        undo_database(dpg if sw is dokploy_swap and dpg else pg, sw)
            raise
        finally:
            with steps.step("start: scale the services back") as s:
                scale(stopped)
                lagging = wait_running(stopped, timeout=cfg.start_timeout)
                s.detail = ", ".join(f"{k} ({v})" for k, v in stopped.items()) or "none"
                if lagging:
                    s.ok = False
                    s.detail += f"; not running yet: {', '.join(lagging)}"
        if lagging:
            raise Failure(f"the data was restored, but {', '.join(lagging)} did not run again within "
                          f"{cfg.start_timeout} s: docker service ps --no-trunc {lagging[0]}")
        if plan.whole:
            with steps.step("host files: the edge's state, stack files, deploy history") as s:
                placed = []
                for p, info in manifest.get("paths", {}).items():
                    if info.get("exists") and inside(restore_dir, p).exists():
                        replace_path(inside(restore_dir, p), p)
                        placed.append(p)
                if cfg.edge_container and docker("inspect", cfg.edge_container, check=False).returncode == 0:
                    docker("restart", cfg.edge_container)
                    placed.append(f"restarted {cfg.edge_container}")
                s.detail = ", ".join(placed)
        with steps.step("clean up what was replaced" + (" (kept: --keep-previous)" if args.keep_previous else "")) as s:
            kept = []
            for sw in swaps + ([dokploy_swap] if dokploy_swap else []):
                if not sw.old:
                    continue
                if args.keep_previous:
                    kept.append(sw.old)
                elif sw.kind == "database":
                    (dpg if sw is dokploy_swap and dpg else pg).drop(sw.old)
                else:
                    shutil.rmtree(sw.old, ignore_errors=True)
            s.detail = ("kept " + ", ".join(kept)) if kept else "done"
        record["result"] = "ok"
        record["stopped_services"] = stopped
    finally:
        for sw in swaps + ([dokploy_swap] if dokploy_swap else []):
            if not sw.applied and sw.kind == "database":
                with contextlib.suppress(Exception):
                    (dpg if sw is dokploy_swap and dpg else pg).drop(sw.new)
            elif not sw.applied and sw.kind == "volume":
                shutil.rmtree(sw.new, ignore_errors=True)


# --------------------------------------------------------------------------------------- drill
def cmd_drill(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    t0, steps = time.monotonic(), Steps()
    record: dict[str, Any] = {"result": "fail", "started": now_iso(), "mismatches": []}
    drill_dir = cfg.state_dir / "drill"
    try:
        with locked(cfg, wait=args.wait):
            args.all, args.platform = True, None
            repo, snap = choose_snapshot(cfg, args.snapshot, args.repository, args.host, None, True)
            record.update(repository=repo.name, snapshot=short(snap))
            try:
                drill(cfg, repo, snap, drill_dir, steps, record)
            finally:
                remove_scratch()
                if drill_dir.exists():
                    shutil.rmtree(drill_dir)
    except Failure as exc:
        record["error"] = str(exc)
    record.update(finished=now_iso(), duration_s=round(time.monotonic() - t0, 1), steps=[s.__dict__ for s in steps])
    write_status(cfg, "drill", record)
    return record


def drill(cfg: Config, repo: Repository, snap: dict[str, Any], drill_dir: Path, steps: Steps,
          record: dict[str, Any]) -> None:
    restic_restore(cfg, repo, snap, drill_dir, [str(cfg.dumps)], steps)
    dumps = inside(drill_dir, str(cfg.dumps))
    manifest = json.loads((dumps / "manifest.json").read_text())
    live_pg = Postgres(cfg.postgres_service, cfg.postgres_superuser)
    name = "bizosaas-backup-drill-postgres"
    pgdata = drill_dir / "pgdata"
    pgdata.mkdir(mode=0o700)
    mismatches: list[str] = []
    changed_since: list[str] = []
    tables = 0
    with steps.step("scratch Postgres: start (the live service's image, no network)"):
        docker("rm", "-f", name, check=False)
        docker("run", "-d", "--name", name, "--label", SCRATCH_LABEL, "--network", "none",
               "-e", f"POSTGRES_PASSWORD={secrets.token_hex(16)}",
               "-v", f"{pgdata}:/var/lib/postgresql/data", service_image(cfg.postgres_service))
        # The entrypoint's first server (initdb) listens on its socket only; the final one on TCP too.
        deadline = time.monotonic() + 180
        while docker("exec", "-u", "postgres", name, "pg_isready", "-q", "-h", "127.0.0.1",
                     check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise Failure("the scratch Postgres did not start within 180 s")
            time.sleep(1)
    scratch = Postgres("scratch", "postgres", container=name)
    if (dumps / "postgres" / "globals.sql").exists():
        scratch.apply_globals(dumps / "postgres" / "globals.sql")
    for db, info in sorted(manifest.get("databases", {}).items()):
        with steps.step(f"drill: {db}") as s:
            settings = info.get("settings") or {"owner": "postgres", "encoding": "UTF8", "collate": "C", "ctype": "C"}
            scratch.create_like(db, settings, None)
            scratch.restore_into(dumps / "postgres" / f"{db}.dump", db)
            got = scratch.fingerprint(db)
            diff = fingerprint_diff(info.get("tables") or {}, got)
            mismatches += [f"{db}: {d}" for d in diff]
            tables += len(got)
            live_diff = fingerprint_diff(got, live_pg.fingerprint(db)) if live_pg.exists(db) else ["missing live"]
            changed_since += [f"{db}: {d}" for d in live_diff]
            s.detail = (f"{len(got)} tables, {sum(int(v[0]) for v in got.values())} rows: "
                        + ("identical to the backup" if not diff else f"{len(diff)} differ")
                        + ("; equal to live" if not live_diff else f"; {len(live_diff)} changed live since"))
            if diff:
                s.ok = False
    docker("rm", "-f", name, check=False)
    if manifest.get("redis"):
        with steps.step("drill: Redis keys per prefix") as s:
            rdir = drill_dir / "redis"
            rdir.mkdir(mode=0o700)
            shutil.copy2(dumps / "redis" / "dump.rdb", rdir / "dump.rdb")
            prefixes = [p.redis_prefix for p in cfg.platforms if p.redis_prefix]
            with scratch_redis(service_image(cfg.redis_service), rdir, "bizosaas-backup-drill-redis") as rc:
                got_counts, got_volatile = scratch_counts(rc, prefixes)
            live_counts, _ = LiveRedis(cfg.redis_service, cfg.redis_password_file).count(prefixes)
            want = manifest["redis"].get("keys") or {}
            bad = redis_count_mismatches(want, manifest["redis"].get("keys_after") or want, got_counts,
                                         cfg.drill_redis_tolerance)
            for prefix in sorted(set(live_counts) | set(got_counts)):
                if int(live_counts.get(prefix, 0)) != int(got_counts.get(prefix, 0)):
                    changed_since.append(f"Redis {prefix or '(other)'}: {got_counts.get(prefix, 0)} restored, "
                                         f"{live_counts.get(prefix, 0)} live")
            mismatches += bad
            record["redis"] = {"restored": got_counts, "restored_with_expiry": got_volatile, "at_backup": want,
                               "live": live_counts}
            s.detail = ", ".join(f"{p or '(other)'} {n}" for p, n in got_counts.items()) + (
                "; equal to the backup" if not bad else f"; {len(bad)} differ")
            if bad:
                s.ok = False
    record["tables"] = tables
    record["mismatches"] = mismatches
    record["changed_live_since_backup"] = changed_since
    record["result"] = "pass" if not mismatches and tables >= 0 else "fail"


def redis_count_mismatches(before: dict[str, int], after: dict[str, int], got: dict[str, int],
                           tolerance: float) -> list[str]:
    """Prefixes whose restored count of keys without expiry is outside what live Redis held around
    the BGSAVE (between the count before and the count after it, widened by tolerance percent)."""
    bad = []
    for prefix in sorted(set(before) | set(after) | set(got)):
        lo = min(int(before.get(prefix, 0)), int(after.get(prefix, 0)))
        hi = max(int(before.get(prefix, 0)), int(after.get(prefix, 0)))
        slack = hi * tolerance / 100
        g = int(got.get(prefix, 0))
        if not lo - slack <= g <= hi + slack:
            held = str(lo) if lo == hi else f"{lo}-{hi}"
            bad.append(f"Redis {prefix or '(other)'}: {g} keys restored, {held} at the backup")
    return bad


# --------------------------------------------------------------------------------------- fingerprint
def cmd_fingerprint(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    pg = Postgres(cfg.postgres_service, cfg.postgres_superuser)
    out: dict[str, Any] = {"result": "ok", "databases": {}}
    for db in cfg.databases:
        out["databases"][db] = pg.fingerprint(db) if pg.exists(db) else None
    prefixes = [p.redis_prefix for p in cfg.platforms if p.redis_prefix]
    out["redis"], out["redis_with_expiry"] = LiveRedis(cfg.redis_service, cfg.redis_password_file).count(prefixes)
    if cfg.dokploy and cfg.dokploy.get("service") and service_exists(cfg.dokploy["service"]):
        dpg = Postgres(cfg.dokploy["service"], cfg.dokploy["user"])
        out["dokploy"] = dpg.fingerprint(cfg.dokploy["database"])
    return out


# --------------------------------------------------------------------------------------- main
def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [Step(**s).line() for s in result.get("steps") or []]
    if result.get("error"):
        lines.append(f"ERROR: {result['error']}")
    for name, r in (result.get("repositories") or {}).items():
        if isinstance(r, dict) and r.get("error"):
            lines.append(f"repository {name}: {r['error']}")
    return lines


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bizosaas-backup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=os.environ.get("BIZOSAAS_BACKUP_CONFIG", DEFAULT_CONFIG))
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, wait: float = 3600) -> None:
        p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
        p.add_argument("--wait", type=float, default=wait, help="seconds to wait for another run's lock")

    p = sub.add_parser("run", help="back up now")
    p.add_argument("--platform", action="append", default=[])
    p.add_argument("--repository", action="append", default=[])
    p.add_argument("--kind", default="manual", choices=["manual", "scheduled", "predeploy"])
    common(p)
    p = sub.add_parser("check", help="prune by the retention policy, then restic check")
    p.add_argument("--repository", action="append", default=[])
    common(p)
    p = sub.add_parser("snapshots", help="list the snapshots")
    p.add_argument("--repository")
    p.add_argument("--platform")
    p.add_argument("--host")
    common(p)
    for name in ("plan", "restore"):
        p = sub.add_parser(name, help="what a restore would do (read-only)" if name == "plan" else "restore")
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--platform")
        g.add_argument("--all", action="store_true")
        p.add_argument("--snapshot", default="latest")
        p.add_argument("--repository")
        p.add_argument("--host")
        p.add_argument("--confirm", default="")
        p.add_argument("--keep-previous", action="store_true")
        common(p, wait=600)
    p = sub.add_parser("drill", help="restore the latest snapshot into scratch services and compare")
    p.add_argument("--snapshot", default="latest")
    p.add_argument("--repository")
    p.add_argument("--host")
    common(p)
    p = sub.add_parser("fingerprint", help="live per-table counts and checksums, Redis keys per prefix")
    common(p)
    p = sub.add_parser("repositories", help="open (and with --init create) every repository")
    p.add_argument("--init", action="store_true")
    common(p)
    p = sub.add_parser("status", help="print the status file")
    common(p)
    return ap


COMMANDS = {"run": cmd_run, "check": cmd_check, "snapshots": cmd_snapshots, "plan": cmd_plan,
            "restore": cmd_restore, "drill": cmd_drill, "fingerprint": cmd_fingerprint,
            "repositories": cmd_repositories}
OK_RESULTS = {"ok", "pass"}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.umask(0o077)
    try:
        cfg = Config.load(args.config)
        if args.command == "status":
            print(json.dumps(read_status(cfg), indent=1, sort_keys=True))
            return EXIT_OK
        result = COMMANDS[args.command](cfg, args)
    except Refusal as exc:
        result = {"result": "refused", "error": str(exc)}
    except Failure as exc:
        result = {"result": "failed", "error": str(exc)}
    if args.json:
        result["lines"] = summary_lines(result)
        print(json.dumps(result, sort_keys=True, default=str))
    elif args.command == "snapshots" and "repositories" in result:
        print(snapshot_table(result))
    else:
        print("\n".join(summary_lines(result) or [json.dumps(result, indent=1, default=str)]))
    if result.get("result") in OK_RESULTS:
        return EXIT_OK
    return EXIT_REFUSED if result.get("result") == "refused" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
