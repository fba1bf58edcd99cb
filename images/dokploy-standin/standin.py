#!/usr/bin/env python3
"""STAND-IN for Dokploy (its own image cannot be obtained here). Not Dokploy.

It serves only what the bizosaas-ops dokploy role checks: `GET /api/health` on port 3000, which
answers 200 with JSON only while a real login to the configured Postgres database succeeds, and
reports DOKPLOY_VERSION. `GET /` says plainly that this is a stand-in.

Database settings, like Dokploy's own container (docker secrets via *_FILE):
  DATABASE_URL[_FILE], or POSTGRES_HOST (dokploy-postgres), POSTGRES_PORT (5432),
  POSTGRES_USER (dokploy), POSTGRES_DB (dokploy), POSTGRES_PASSWORD[_FILE]
  (default file /run/secrets/postgres_password when it exists).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import urlopen

import psycopg2

STANDIN = "STAND-IN for Dokploy (bizosaas-ops image kit): not Dokploy, only its /api/health"
DEFAULT_SECRET = "/run/secrets/postgres_password"


def env(name: str, default: str = "") -> str:
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    return default


def version() -> str:
    return env("DOKPLOY_VERSION", "unknown")


def check_database() -> str:
    url = env("DATABASE_URL")
    if url:
        conn = psycopg2.connect(url, connect_timeout=3)
    else:
        password = env("POSTGRES_PASSWORD")
        if not password and os.path.exists(DEFAULT_SECRET):
            with open(DEFAULT_SECRET, encoding="utf-8") as fh:
                password = fh.read().strip()
        conn = psycopg2.connect(
            host=env("POSTGRES_HOST", "dokploy-postgres"),
            port=int(env("POSTGRES_PORT", "5432")),
            user=env("POSTGRES_USER", "dokploy"),
            dbname=env("POSTGRES_DB", "dokploy"),
            password=password or None,
            connect_timeout=3,
        )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            (db,) = cur.fetchone()
    finally:
        conn.close()
    return db


class Handler(BaseHTTPRequestHandler):
    server_version = "dokploy-standin"

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
        if path == "/api/health":
            try:
                db = check_database()
            except Exception as exc:
                self._send(503, {"status": "error", "version": version(), "standin": True,
                                 "reason": f"database: {str(exc).strip()}"})
                return
            self._send(200, {"status": "ok", "version": version(), "database": db, "standin": True})
        elif path == "/":
            self._send(200, {"name": "dokploy-standin", "standin": STANDIN, "version": version()})
        else:
            self._send(404, {"error": f"no route {path}", "standin": STANDIN})

    do_HEAD = do_GET


def main() -> int:
    port = int(env("PORT", "3000"))
    if sys.argv[1:] == ["--check"]:
        try:
            with urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as r:
                return 0 if r.status == 200 else 1
        except Exception as exc:
            print(exc, file=sys.stderr)
            return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{STANDIN}; DOKPLOY_VERSION={version()}; listening on :{port}", flush=True)
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
