#!/usr/bin/env python3
"""Request one domain through Traefik every --interval seconds until --stop-file exists, then print JSON.

    load.py --host web.demo.bizosaas.test --ip 172.28.0.5 --ca ca.crt --stop-file F [--interval 0.25]

The client of bench/run.py's Load, for one domain and one worker: keep-alive HTTPS to the VPS's
address with the domain as SNI and Host, trusting only the scenario's CA; a status outside 2xx, a
reset, a timeout or a TLS error is a failed request. Besides the counts it reports when requests
failed (epoch seconds), so the verifier can tell how long an outage lasted and when it ended.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import time


def connection(host: str, ip: str, ctx: ssl.SSLContext, timeout: float) -> http.client.HTTPSConnection:
    class Conn(http.client.HTTPSConnection):
        def connect(self) -> None:  # TCP to the VPS, TLS with the domain as SNI
            sock = socket.create_connection((ip, 443), timeout=timeout)
            self.sock = ctx.wrap_socket(sock, server_hostname=host)

    return Conn(host, 443, timeout=timeout, context=ctx)


def run(args: argparse.Namespace) -> dict:
    ctx = ssl.create_default_context(cafile=args.ca)
    conn = connection(args.host, args.ip, ctx, args.timeout)
    sent, failures, errors = 0, [], {}
    start = nxt = time.time()
    while not os.path.exists(args.stop_file) and time.time() - start < args.max_seconds:
        delay = nxt - time.time()
        if delay > 0:
            time.sleep(delay)
        nxt += args.interval
        at, err = time.time(), None
        try:
            conn.request("GET", "/", headers={"Host": args.host})
            resp = conn.getresponse()
            resp.read()
            if not 200 <= resp.status < 300:
                err = f"HTTP {resp.status}"
        except Exception as exc:  # connection refused or reset, timeout, TLS...
            err = type(exc).__name__
            conn.close()
            conn = connection(args.host, args.ip, ctx, args.timeout)
        sent += 1
        if err:
            failures.append(round(at, 3))
            errors[err] = errors.get(err, 0) + 1
    end = time.time()
    return {
        "host": args.host,
        "requests": sent,
        "failed": len(failures),
        "errors": errors,
        "started": round(start, 3),
        "stopped": round(end, 3),
        "first_failure": failures[0] if failures else None,
        "last_failure": failures[-1] if failures else None,
        "rate": round(sent / max(end - start, 0.001), 2),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", required=True)
    ap.add_argument("--ip", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as failed")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="stop anyway after this long")
    args = ap.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
