#!/usr/bin/env python3
"""STAND-IN for the BizoSaaS platforms' application images (the real ones are not available here).

A small web service whose health is real: `/health` connects to the configured Postgres database
as the platform's user, does a SET/GET on Redis as the platform's ACL user under its own key
prefix, and asks Temporal (gRPC DescribeNamespace) for its namespace. Each dependency is checked
only when it is configured. Secrets may come from `<NAME>_FILE` (docker secrets).

Environment:
  PORT (8080), SERVICE_NAME, PLATFORM, APP_VERSION
  DATABASE_URL | PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD[_FILE]
  REDIS_URL | REDIS_HOST REDIS_PORT REDIS_USER REDIS_PASSWORD[_FILE] REDIS_DB; REDIS_PREFIX
  TEMPORAL_ADDRESS (host:port) + TEMPORAL_NAMESPACE
  START_DELAY (seconds before listening), FAIL_HEALTH=1 (force 503), CHECK_TIMEOUT (3)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import urlopen

STANDIN = "probe: a STAND-IN for the platform application images (bizosaas-ops image kit)"
HOSTNAME = socket.gethostname()


def env(name: str, default: str = "") -> str:
    """NAME, or the content of the file named by NAME_FILE (docker secrets)."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    return default


def timeout() -> float:
    return float(env("CHECK_TIMEOUT", "3"))


def check_postgres() -> str | None:
    """None when not configured; else a description. Raises on failure."""
    url = env("DATABASE_URL")
    if not url and not os.environ.get("PGHOST"):
        return None
    import psycopg2

    kw: dict[str, object] = {"connect_timeout": max(1, int(timeout()))}
    if not url:
        password = env("PGPASSWORD")
        if password:
            kw["password"] = password
    conn = psycopg2.connect(url or "", **kw)  # libpq reads PGHOST, PGUSER, PGDATABASE, PGPORT
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            user, db = cur.fetchone()
    finally:
        conn.close()
    return f"connected to database {db} as {user}"


def check_redis() -> str | None:
    url = env("REDIS_URL")
    if not url and not os.environ.get("REDIS_HOST"):
        return None
    import redis

    t = timeout()
    if url:
        client = redis.Redis.from_url(url, socket_timeout=t, socket_connect_timeout=t)
    else:
        client = redis.Redis(
            host=env("REDIS_HOST"),
            port=int(env("REDIS_PORT", "6379")),
            username=env("REDIS_USER") or None,
            password=env("REDIS_PASSWORD") or None,
            db=int(env("REDIS_DB", "0")),
            socket_timeout=t,
            socket_connect_timeout=t,
        )
    key = f"{env('REDIS_PREFIX')}probe:health:{HOSTNAME}"
    value = str(time.time())
    try:
        client.set(key, value, ex=60)
        got = client.get(key)
    finally:
        client.close()
    if got is None or got.decode() != value:
        raise RuntimeError(f"redis: read back {got!r} from {key}")
    return f"SET/GET {key} ok"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def check_temporal() -> str | None:
    address, namespace = env("TEMPORAL_ADDRESS"), env("TEMPORAL_NAMESPACE")
    if not (address and namespace):
        return None
    import grpc

    # temporal.api.workflowservice.v1.DescribeNamespaceRequest{namespace: 1}, hand-encoded so the
    # image needs no generated stubs; any gRPC error (UNAVAILABLE, NOT_FOUND, ...) is a failure.
    request = b"\x0a" + _varint(len(namespace.encode())) + namespace.encode()
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary("/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace")
        try:
            call(request, timeout=timeout() * 2)
        except grpc.RpcError as exc:
            raise RuntimeError(f"temporal {address}: {exc.code().name}: {exc.details()}") from None
    return f"namespace {namespace} exists on {address}"


CHECKS: dict[str, Callable[[], str | None]] = {
    "postgres": check_postgres,
    "redis": check_redis,
    "temporal": check_temporal,
}


def health() -> tuple[int, dict[str, object]]:
    if env("FAIL_HEALTH") in ("1", "true", "yes"):
        return 503, {"status": "fail", "reason": "FAIL_HEALTH is set", "checks": {}}
    results: dict[str, str] = {}
    failed: list[str] = []
    for name, check in CHECKS.items():
        try:
            msg = check()
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {str(exc).strip()}")
            results[name] = "fail"
            continue
        results[name] = "not configured" if msg is None else f"ok: {msg}"
    body: dict[str, object] = {"status": "fail" if failed else "ok", "checks": results}
    if failed:
        body["reason"] = "; ".join(failed)
    return (503 if failed else 200), body


def info() -> dict[str, object]:
    return {
        "service": env("SERVICE_NAME", "probe"),
        "platform": env("PLATFORM"),
        "version": env("APP_VERSION", "unknown"),
        "hostname": HOSTNAME,
        "standin": STANDIN,
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "bizosaas-probe"

    def _send(self, code: int, body: dict[str, object]) -> None:
        data = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, info())
        elif path in ("/health", "/healthz"):
            code, body = health()
            self._send(code, {**body, "version": env("APP_VERSION", "unknown"), "hostname": HOSTNAME})
        else:
            self._send(404, {"error": f"no route {path}"})

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> int:
    port = int(env("PORT", "8080"))
    if sys.argv[1:] == ["--check"]:  # the image's HEALTHCHECK
        try:
            with urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout() * 4) as r:
                return 0 if r.status == 200 else 1
        except Exception as exc:
            print(exc, file=sys.stderr)
            return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 has no default handler
    delay = float(env("START_DELAY", "0") or 0)
    print(f"{STANDIN}; version {env('APP_VERSION', 'unknown')}", flush=True)
    if delay > 0:
        print(f"START_DELAY: waiting {delay:g}s before listening", flush=True)
        time.sleep(delay)
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    print(f"listening on :{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
