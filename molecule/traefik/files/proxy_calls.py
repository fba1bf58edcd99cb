#!/usr/bin/env python3
"""Summarise the Docker socket proxy's log (HAProxy httplog lines on stdin, traefik_socket_proxy_log_allowed
on): the calls Traefik made (User-Agent "Traefik ..."), each once, with ids and query strings folded.

Prints `calls=METHOD /path STATUS,...` (sorted) and `refused=N`, the number of Traefik's calls the
proxy refused (403). Other statuses are Docker's own answers (a 404 when a `--rm` container is gone
between Traefik's list and its inspect).
"""

from __future__ import annotations

import re
import sys

LINE = re.compile(r' (?P<status>\d{3}) \d+ .*\{(?P<ua>[^}]*)\} "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/')


def fold(path: str) -> str:
    path = re.sub(r"^/v\d+\.\d+/", "/", path.split("?", 1)[0])
    return re.sub(r"^/(containers|nodes)/(?!json$)[^/]+", r"/\1/{id}", path)


def main() -> int:
    calls: set[str] = set()
    refused = 0
    for line in sys.stdin:
        m = LINE.search(line)
        if not m or not m["ua"].startswith("Traefik"):
            continue
        calls.add(f"{m['method']} {fold(m['path'])} {m['status']}")
        refused += m["status"] == "403"
    print("calls=" + ",".join(sorted(calls)))
    print(f"refused={refused}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
