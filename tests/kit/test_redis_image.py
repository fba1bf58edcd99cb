"""redis image: the official command-line style, AUTH, and an ACL user held to its key prefix."""

from __future__ import annotations

import pytest
import redis

from tests.kit.kitlib import Containers, container_ip, docker, get_json, kit_ref, wait_for


def test_redis_auth_acl_and_cli_style(containers: Containers) -> None:
    name = containers.run("redis", kit_ref("redis"), "redis-server", "--appendonly", "yes",
                          "--requirepass", "admin-pw")
    ip = container_ip(name)
    admin = redis.Redis(host=ip, password="admin-pw", socket_timeout=5)
    wait_for(f"{name} to answer PING", admin.ping, timeout=30, container=name)

    # AUTH: no password and a wrong one are refused
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=ip, socket_timeout=5).get("x")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=ip, password="wrong", socket_timeout=5).ping()

    assert admin.config_get("appendonly") == {"appendonly": "yes"}
    assert admin.info("server")["redis_version"].startswith("7.")

    # ACL: a platform user may use app1:* and nothing else
    admin.execute_command("ACL", "SETUSER", "app1", "on", ">app1-pw", "~app1:*", "+@all", "-@dangerous")
    app1 = redis.Redis(host=ip, username="app1", password="app1-pw", socket_timeout=5)
    assert app1.set("app1:k", "v") and app1.get("app1:k") == b"v"
    with pytest.raises(redis.exceptions.NoPermissionError):
        app1.set("app2:k", "v")
    with pytest.raises(redis.exceptions.NoPermissionError):
        app1.get("app2:k")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=ip, username="app1", password="admin-pw", socket_timeout=5).ping()

    # the probe stand-in's Redis check logs in as the ACL user: its own prefix passes, another fails
    env = {"REDIS_HOST": "redis", "REDIS_USER": "app1", "REDIS_PASSWORD": "app1-pw"}
    ok = containers.run("probe-r-ok", kit_ref("probe"), env={**env, "REDIS_PREFIX": "app1:"})
    bad = containers.run("probe-r-bad", kit_ref("probe"), env={**env, "REDIS_PREFIX": "app2:"})
    ok_url, bad_url = (f"http://{container_ip(c)}:8080/health" for c in (ok, bad))
    code, body = wait_for("the probe to answer", lambda: get_json(ok_url), container=ok)
    assert code == 200 and body["checks"]["redis"].startswith("ok: SET/GET app1:probe:health:"), body
    code, body = wait_for("the probe to answer", lambda: get_json(bad_url), container=bad)
    assert code == 503 and "NoPermissionError" in body["reason"], body

    # /data is the working directory and holds the append-only file, owned by uid 999
    out = docker("exec", name, "sh", "-c", "pwd; stat -c %u /proc/1; ls /data").stdout.split()
    assert out[0] == "/data" and out[1] == "999"
    assert any(f.startswith("appendonly") for f in out[2:])


def test_redis_dash_args_go_to_redis_server(containers: Containers) -> None:
    # `docker run redis:7 --maxmemory 5mb` means `redis-server --maxmemory 5mb`, as upstream
    name = containers.run("redis-args", kit_ref("redis"), "--maxmemory", "5mb")
    client = redis.Redis(host=container_ip(name), socket_timeout=5)
    wait_for(f"{name} to answer PING", client.ping, timeout=30, container=name)
    assert client.config_get("maxmemory") == {"maxmemory": str(5 * 1024 * 1024)}
