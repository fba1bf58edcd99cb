#!/usr/bin/env python3
"""Sign in to Wagtail's admin through Traefik, as a browser does (the platform_app verifier).

    wagtail_signin.py HOST IP CA_FILE USERNAME PASSWORD

GET /admin/login/ (the form, its CSRF token and cookie, the X-App-Version header), POST the
credentials with the token, Origin and Referer (Django's CSRF check over HTTPS), expect a redirect to
the admin, then GET /admin/ with the session cookie and expect the dashboard; a wrong password must
not sign in. Prints JSON with what it saw; exits 1 naming the first step that failed.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import sys
import urllib.parse


def request(host: str, ip: str, ctx: ssl.SSLContext, method: str, path: str, cookies: dict[str, str],
            headers: dict[str, str] | None = None, body: dict[str, str] | None = None):
    sock = socket.create_connection((ip, 443), timeout=20)
    conn = http.client.HTTPSConnection(host, 443, timeout=20, context=ctx)
    conn.sock = ctx.wrap_socket(sock, server_hostname=host)
    hdrs = {"Host": host, **(headers or {})}
    if cookies:
        hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    for header in resp.msg.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        cookies[name.strip()] = rest.split(";", 1)[0]
    conn.close()
    return resp.status, dict(resp.getheaders()), text


def main(argv: list[str]) -> int:
    host, ip, ca, user, password = argv
    ctx = ssl.create_default_context(cafile=ca)
    origin = f"https://{host}"
    seen: dict = {}

    def fail(step: str) -> int:
        print(json.dumps({"failed": step, **seen}, sort_keys=True))
        return 1

    cookies: dict[str, str] = {}
    status, headers, body = request(host, ip, ctx, "GET", "/admin/login/", cookies)
    lower = {k.lower(): v for k, v in headers.items()}
    seen.update(login_status=status, version=lower.get("x-app-version", ""))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if status != 200 or 'name="username"' not in body or "Sign in" not in body or not token:
        return fail("the login form")
    post = {"csrfmiddlewaretoken": token.group(1), "username": user, "password": password, "next": "/admin/"}
    form_headers = {"Origin": origin, "Referer": f"{origin}/admin/login/"}
    wrong = dict(cookies)
    status, headers, _ = request(host, ip, ctx, "POST", "/admin/login/", wrong, form_headers,
                                 {**post, "password": password + "-wrong"})
    seen["wrong_password_status"] = status
    if status == 302:
        return fail("a wrong password signed in")
    status, headers, _ = request(host, ip, ctx, "POST", "/admin/login/", cookies, form_headers, post)
    location = {k.lower(): v for k, v in headers.items()}.get("location", "")
    seen.update(signin_status=status, location=location)
    if status != 302 or not location.endswith("/admin/") or "sessionid" not in cookies:
        return fail("the sign-in")
    status, _, body = request(host, ip, ctx, "GET", "/admin/", cookies)
    seen["dashboard_status"] = status
    if status != 200 or "/admin/logout/" not in body:
        return fail("the dashboard after signing in")
    print(json.dumps(seen, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
