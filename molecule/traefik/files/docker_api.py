#!/usr/bin/env python3
"""Call the Docker API over a unix socket and print one `METHOD PATH=STATUS` line per call.

    docker_api.py SOCKET 'GET /version' 'POST /containers/create' ...

STATUS is the HTTP status, or `error:<reason>` when the socket refuses the connection (a missing
socket, a permission denied). A POST carries an empty JSON object, so a call the proxy wrongly
forwarded fails in Docker (400) instead of creating anything. Run inside a throwaway container
that mounts the socket proxy's folder, as the uid under test.
"""

from __future__ import annotations

import http.client
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("docker", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def call(path: str, request: str) -> str:
    method, target = request.split(" ", 1)
    try:
        conn = UnixConnection(path)
        body = b"{}" if method in ("POST", "PUT") else None
        conn.request(method, target, body=body, headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        return str(status)
    except OSError as exc:
        return f"error:{type(exc).__name__}"


def main(argv: list[str]) -> int:
    sock, *requests = argv
    for request in requests:
        print(f"{request}={call(sock, request)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
