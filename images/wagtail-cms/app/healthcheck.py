#!/usr/bin/env python3
"""The image's health check, without curl: GET http://127.0.0.1:$PORT/health/ (stdlib only).

Exit 0 on 200, else 1; prints the answer or the reason. No proxy is used, whatever the environment says.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "8"))) as r:
            print(r.read(500).decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: HTTP {exc.code}: {exc.read(500).decode(errors='replace')}")
    except OSError as exc:
        print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
