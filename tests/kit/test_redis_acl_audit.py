"""The platform users' Redis ACL (bizosaas.ops.redis_acl) against the kit's real Redis.

Redis checks a user's key and channel patterns only on the key and channel arguments of a command,
so a keyless command answers about the whole server: SCAN lists every platform's key names. The
audit walks `COMMAND` of the running server and asks `ACL DRYRUN` about every command and
subcommand: a keyless one allowed to a platform user must be in HARMLESS (each reads or changes only
the caller's own connection, or is channel-checked). A Redis upgrade that adds a keyless command
fails here until someone decides which side it belongs to.

The server runs the way the redis role runs it: uid 999, every capability dropped, read-only root.
"""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest
import redis
from ansible_collections.bizosaas.ops.plugins.filter import data

from tests.kit.kitlib import Containers, container_ip, docker, kit_ref, wait_for

# Keyless commands a platform user may run: they act on the caller's own connection or
# transaction, describe commands, or are checked against the user's channel patterns.
HARMLESS = {
    "asking", "auth", "hello", "ping", "echo", "quit", "reset", "readonly", "readwrite", "select", "lolwut",
    "multi", "exec", "discard", "unwatch", "wait", "waitaof",
    "client|caching", "client|getname", "client|getredir", "client|help", "client|id", "client|info",
    "client|reply", "client|setname", "client|setinfo", "client|trackinginfo", "client|no-touch",
    "command", "command|count", "command|docs", "command|getkeys", "command|getkeysandflags", "command|help",
    "command|info", "command|list", "object|help", "pubsub|help",
    # channel-checked against the user's &<prefix>* pattern
    "publish", "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
}
USERS = [
    {"name": "app1", "prefix": "app1:", "password": "app1-pw"},
    {"name": "app2", "prefix": "app2:", "password": "app2-pw"},
    {"name": "app3", "prefix": "app3:", "password": "app3-pw", "unsafe_commands": ["scan"]},
]


def commands(admin: redis.Redis) -> dict[str, dict]:
    """name or parent|sub -> {arity, first key, number of key specs} of every command the server has."""
    admin.set_response_callback("COMMAND", lambda r, **_: r)
    out: dict[str, dict] = {}

    def walk(info: list, parent: str = "") -> None:
        name = info[0].decode() if isinstance(info[0], bytes) else info[0]
        full = f"{parent}|{name.split('|')[-1]}" if parent else name
        out[full] = {"arity": info[1], "first": info[3], "keyspecs": len(info[8] or [])}
        for sub in info[9] or []:
            walk(sub, name)

    for info in admin.execute_command("COMMAND"):
        walk(info)
    return out


def allowed(admin: redis.Redis, user: str, full: str, arity: int, arg: str) -> bool:
    """ACL DRYRUN: may `user` run this command (its arguments padded with `arg`)?"""
    parts = full.split("|")
    args = parts + [arg] * max(0, abs(arity) - len(parts))
    try:
        return admin.execute_command("ACL", "DRYRUN", user, *args) in (b"OK", "OK")
    except redis.ResponseError:
        return False


@pytest.fixture
def server(containers: Containers, tmp_path: Path) -> tuple[str, redis.Redis]:
    acl = tmp_path / "users.acl"
    acl.write_text(data.redis_acl(USERS, "admin-pw"))
    acl.chmod(0o644)
    tmp_path.chmod(0o755)
    name = containers.run("redis-acl", kit_ref("redis"), "redis-server", "--aclfile", "/acl/users.acl",
                          opts=["--user", "999:999", "--cap-drop", "ALL", "--read-only",
                                "-v", f"{tmp_path}:/acl:ro", "-v", f"{containers.volume('redis-acl')}:/data"])
    ip = container_ip(name)
    admin = redis.Redis(host=ip, password="admin-pw", socket_timeout=5)
    wait_for(f"{name} to answer PING", admin.ping, timeout=30, container=name)
    return ip, admin


def test_no_keyless_command_reaches_other_prefixes(server: tuple[str, redis.Redis]) -> None:
    _, admin = server
    table = commands(admin)
    assert "scan" in table and "pubsub|channels" in table, sorted(table)[:20]
    keyless = {c for c, d in table.items() if d["first"] == 0 and d["keyspecs"] == 0}
    open_to_app = {c for c in keyless if allowed(admin, "app1", c, table[c]["arity"], "app1:x")}
    assert open_to_app - HARMLESS == set(), (
        f"keyless commands a platform user may run, not known to be harmless: {sorted(open_to_app - HARMLESS)}; "
        "deny them in REDIS_DENIED_COMMANDS (filter/data.py) or, if they only touch the caller's connection, add "
        "them to HARMLESS")
    # Control: the audit sees an allowed command when there is one (the admin may run them all).
    assert {c for c in keyless if allowed(admin, "default", c, table[c]["arity"], "x")} >= {"scan", "dbsize"}
    assert "ping" in open_to_app and "scan" not in open_to_app
    # every denied command still exists in this Redis (a rule for a command it lacks would be an error)
    assert {c for c in data.REDIS_DENIED_COMMANDS} <= set(table)


def test_platform_users_are_held_to_their_prefix(server: tuple[str, redis.Redis]) -> None:
    ip, admin = server
    admin.set("app2:session:abc123", "secret")
    app1 = redis.Redis(host=ip, username="app1", password="app1-pw", socket_timeout=5)
    assert app1.set("app1:k", "v") and app1.get("app1:k") == b"v"
    for cmd in (("GET", "app2:session:abc123"), ("SCAN", "0"), ("KEYS", "*"), ("RANDOMKEY",), ("DBSIZE",),
                ("PUBSUB", "CHANNELS"), ("PUBSUB", "NUMSUB", "app2:chan"), ("CLIENT", "TRACKING", "on", "BCAST"),
                ("FUNCTION", "FLUSH")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            app1.execute_command(*cmd)
    # Controls: the same commands answer for the admin, so the refusals above are the ACL's.
    assert b"app2:session:abc123" in admin.scan(0, count=1000)[1]
    assert admin.dbsize() >= 2 and admin.randomkey() is not None
    assert admin.execute_command("CLIENT", "TRACKING", "on", "BCAST") in (b"OK", "OK", True)


def test_tracking_would_leak_key_names(server: tuple[str, redis.Redis]) -> None:
    """Why client|tracking is denied: a BCAST subscriber gets every written key's name, whatever its
    ACL. Measured with the admin (the platform user is refused CLIENT TRACKING)."""
    ip, admin = server
    sock = socket.create_connection((ip, 6379), timeout=5)

    def send(*args: str) -> bytes:
        sock.sendall(b"".join([f"*{len(args)}\r\n".encode()]
                              + [f"${len(a)}\r\n{a}\r\n".encode() for a in args]))
        time.sleep(0.3)
        return sock.recv(65536)

    assert b"NOPERM" in send("HELLO", "3", "AUTH", "app1", "app1-pw") + send("CLIENT", "TRACKING", "on", "BCAST")
    send("HELLO", "3", "AUTH", "default", "admin-pw")
    assert send("CLIENT", "TRACKING", "on", "BCAST").startswith(b"+OK")
    admin.set("app2:session:xyz789", "v")
    time.sleep(0.3)
    assert b"app2:session:xyz789" in sock.recv(65536)
    sock.close()


def test_opt_in_allows_only_what_it_names(server: tuple[str, redis.Redis]) -> None:
    ip, admin = server
    admin.set("app2:k", "v")
    app3 = redis.Redis(host=ip, username="app3", password="app3-pw", socket_timeout=5)
    # SCAN is back for app3, and shows other prefixes: the documented cost of the opt-in
    assert b"app2:k" in app3.scan(0, count=1000)[1]
    with pytest.raises(redis.exceptions.NoPermissionError):
        app3.randomkey()
    with pytest.raises(redis.exceptions.NoPermissionError):
        app3.get("app2:k")
    assert data.redis_unsafe_warnings(USERS)[0].startswith("Redis user 'app3' may run SCAN")


def test_the_server_runs_without_privileges(server: tuple[str, redis.Redis], containers: Containers) -> None:
    name = containers.names[-1]
    status = docker("exec", name, "cat", "/proc/1/status").stdout
    caps = dict(line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))
    assert caps["CapEff"] == caps["CapBnd"] == "0000000000000000", caps
    assert "Read-only file system" in docker("exec", "-u", "0", name, "touch", "/etc/x", check=False).stderr
    assert docker("exec", name, "touch", "/data/x").returncode == 0  # control: the volume is writable
    digest = hashlib.sha256(b"app1-pw").hexdigest()
    assert digest in docker("exec", name, "cat", "/acl/users.acl").stdout


def test_one_platform_evicts_another(server: tuple[str, redis.Redis]) -> None:
    """The shared maxmemory: app1 filling Redis evicts app2's keys (allkeys-lru), ACL or not."""
    ip, admin = server
    admin.config_set("maxmemory", 8 * 1024 * 1024)
    admin.config_set("maxmemory-policy", "allkeys-lru")
    app1 = redis.Redis(host=ip, username="app1", password="app1-pw", socket_timeout=10)
    app2 = redis.Redis(host=ip, username="app2", password="app2-pw", socket_timeout=10)
    pipe = app2.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"app2:session:{i}", "s" * 100)
    pipe.execute()
    assert sum(app2.exists(f"app2:session:{i}") for i in range(200)) == 200  # control: all there
    pipe = app1.pipeline(transaction=False)
    for i in range(400):  # 16 MB of app1 cache, twice maxmemory
        pipe.set(f"app1:cache:{i}", "c" * 40_000)
    pipe.execute()
    left = sum(app2.exists(f"app2:session:{i}") for i in range(200))
    evicted = int(admin.info("stats")["evicted_keys"])
    print(f"app2 sessions left: {left}/200, evicted keys: {evicted}")
    assert evicted > 0 and left < 200
