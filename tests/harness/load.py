#!/usr/bin/env python3
"""Steady HTTPS load on one URL through Traefik, recording failures and which app version answered.

    load.py --host cms.bizoholic.bizosaas.test --ip 172.28.0.5 --ca ca.crt --path /contract/ \
            --rate 20 --stop-file /tmp/stop --out /tmp/load.json [--max-seconds 900]

Keep-alive connections to IP:443 with the host as SNI and Host header, the certificate checked
against --ca; --rate requests per second in total, spread over --workers connections. A request
fails on a connection error, a timeout (10 s) or a status other than 2xx. Each answer's
X-App-Version header (the kit's Wagtail image sets it) is recorded: the output names the first and
last time each version answered, so a test can tell when a new version started serving.
It runs until --stop-file exists (or --max-seconds), then writes --out:
{"requests", "failed", "seconds", "rate", "errors": {"<error>": n}, "versions": {v: {"first", "last",
"count"}}, "started", "stopped"} (times are Unix epochs). Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Load:
    host: str
    ip: str
    ca: str | None
    path: str = "/"
    rate: float = 20.0
    workers: int = 4
    sent: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    versions: dict[str, dict[str, float]] = field(default_factory=dict)
    started: float = 0.0
    stopped: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _conn(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=self.ca) if self.ca else ssl._create_unverified_context()
        ip, host = self.ip, self.host

        class Conn(http.client.HTTPSConnection):
            def connect(self) -> None:  # TCP to the VPS, TLS with the domain as SNI
                sock = socket.create_connection((ip, 443), timeout=10)
                self.sock = ctx.wrap_socket(sock, server_hostname=host)

        return Conn(host, 443, timeout=10, context=ctx)

    def _worker(self, period: float, offset: float) -> None:
        conn = self._conn()
        nxt = time.monotonic() + offset
        while not self._stop.is_set():
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            nxt += period
            err, version = None, ""
            try:
                conn.request("GET", self.path, headers={"Host": self.host})
                resp = conn.getresponse()
                resp.read()
                version = resp.getheader("X-App-Version") or ""
                if not 200 <= resp.status < 300:
                    err = f"HTTP {resp.status}"
            except Exception as exc:  # connection reset, timeout, TLS...
                err = type(exc).__name__
                conn.close()
                conn = self._conn()
            now = time.time()
            with self._lock:
                self.sent += 1
                if err:
                    self.failed += 1
                    self.errors[err] = self.errors.get(err, 0) + 1
                elif version:
                    v = self.versions.setdefault(version, {"first": now, "last": now, "count": 0})
                    v["last"] = now
                    v["count"] += 1

    def start(self) -> Load:
        self._stop.clear()
        period = self.workers / self.rate
        self.started = time.time()
        self._threads = [threading.Thread(target=self._worker, args=(period, i * period / self.workers), daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)
        self.stopped = time.time()
        secs = max(self.stopped - self.started, 0.001)
        return {"requests": self.sent, "failed": self.failed, "seconds": round(secs, 1),
                "rate": round(self.sent / secs, 1), "errors": dict(sorted(self.errors.items())),
                "versions": self.versions, "started": self.started, "stopped": self.stopped}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", required=True)
    ap.add_argument("--ip", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--path", default="/")
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-seconds", type=float, default=1200)
    a = ap.parse_args(argv)
    load = Load(a.host, a.ip, a.ca, a.path, a.rate, a.workers).start()
    deadline = time.monotonic() + a.max_seconds
    while not os.path.exists(a.stop_file) and time.monotonic() < deadline:
        time.sleep(0.5)
    result = load.stop()
    with open(a.out, "w") as fh:
        json.dump(result, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
