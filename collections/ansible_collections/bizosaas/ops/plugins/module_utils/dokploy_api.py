"""A small client for Dokploy's REST API (trpc-openapi), for modules that run on the Dokploy host.

Standard library and ansible.module_utils.urls only: the modules run on the target, which has no
`requests`. Every procedure is `/api/<router>.<procedure>`: a query is a GET with its input in the
query string, a mutation a POST with a JSON body; the key travels in the `x-api-key` header.

Errors are DokployError with a message that names the endpoint and says what to do. The API key
is never part of a message: it is only ever put in a request header.
"""

from __future__ import annotations

import errno
import http.client
import http.cookiejar
import json
import os
import re
import ssl
import time
import urllib.error
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from ansible.module_utils.urls import Request

DEFAULT_URL = "http://127.0.0.1:3000"
DEFAULT_KEY_FILE = "/var/lib/bizosaas-ops/dokploy/api-key"
# Statuses and errors that mean "Dokploy is not up yet": retried during the start-up window only.
RETRY_STATUSES = (502, 503)
RETRY_INTERVAL = 2.0
# What the 401/403 message tells the operator: where the key lives and how it comes back.
KEY_HELP = (
    "The key is wrong, revoked or rate-limited (a key created with Dokploy's defaults allows 10 requests "
    "a day). The dokploy role keeps the toolkit's key in {key_file} (0600, root) and recreates it: delete "
    "that file and rerun the role (--tags dokploy); bizosaas.ops.dokploy_owner signs in as the owner with "
    "the vault's email and password and writes a new key with rate limiting off."
)


def argument_spec() -> dict[str, Any]:
    """The connection options every Dokploy module shares (documented in doc_fragments/dokploy.py)."""
    return {
        "api_url": {"type": "str", "default": DEFAULT_URL},
        "api_key": {"type": "str", "no_log": True},
        "api_key_file": {"type": "path", "default": DEFAULT_KEY_FILE},
        "timeout": {"type": "int", "default": 30},
        "startup_wait": {"type": "int", "default": 60},
    }


class DokployError(Exception):
    """A failed call, with a message fit for the operator (never the key)."""

    def __init__(
        self, msg: str, status: int | None = None, endpoint: str = "", body: Any = None, timed_out: bool = False
    ):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.endpoint = endpoint
        self.body = body
        self.timed_out = timed_out


class Response:
    def __init__(self, status: int, headers: Any, data: Any):
        self.status = status
        self.headers = headers
        self.data = data

    def cookies(self) -> dict[str, str]:
        """name -> value of every Set-Cookie header (better-auth's session cookie)."""
        found: dict[str, str] = {}
        get_all = getattr(self.headers, "get_all", None)
        values = (get_all("Set-Cookie") if get_all else None) or []
        for raw in values:
            pair = raw.split(";", 1)[0]
            name, sep, value = pair.partition("=")
            if sep and name.strip():
                found[name.strip()] = value.strip()
        return found


def read_key_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return ""


def write_key_file(path: str, key: str) -> None:
    """Write the key atomically: directory 0700, file 0600, root only."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _message(body: Any) -> str:
    """Dokploy's own words from an error body: trpc-openapi's {message, code, issues}."""
    if isinstance(body, dict):
        msg = str(body.get("message") or body.get("error") or "").strip()
        issues = [str(i.get("message")) for i in body.get("issues") or [] if isinstance(i, dict) and i.get("message")]
        if issues:
            msg = f"{msg} ({'; '.join(issues)})" if msg else "; ".join(issues)
        return msg
    text = str(body or "").strip()
    return text[:300]


def _refused(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, ConnectionRefusedError) or (
        isinstance(reason, OSError) and reason.errno == errno.ECONNREFUSED
    )


def _reset(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, (ConnectionResetError, http.client.RemoteDisconnected))


class DokployClient:
    """JSON in and out, one method per HTTP verb; raises DokployError."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: int = 30,
        startup_wait: int = 60,
        key_file: str = DEFAULT_KEY_FILE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.url = url.rstrip("/")
        self.api_key = api_key or None
        self.timeout = timeout
        self.startup_wait = max(0, startup_wait)
        self.key_file = key_file
        self.sleep = sleep
        self.clock = clock
        self.calls: list[tuple[str, str]] = []  # (method, endpoint): what this run asked, for tests and reports
        # One TLS context for the whole run (building one per request costs ~50 ms of CA loading); a plain
        # http:// URL, the default, never uses it.
        if self.url.startswith("https://"):
            context = ssl.create_default_context()
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # Cookies are passed explicitly (the owner's session only); the jar stores none.
        jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._http = Request(use_proxy=False, use_netrc=False, context=context, cookies=jar)

    @classmethod
    def from_params(cls, params: dict[str, Any], require_key: bool = True) -> DokployClient:
        key = params.get("api_key") or ""
        key_file = params.get("api_key_file") or DEFAULT_KEY_FILE
        if not key and require_key:
            key = read_key_file(key_file)
            if not key:
                raise DokployError(
                    f"No Dokploy API key: api_key is not set and {key_file} is missing or empty. The dokploy role "
                    "creates that file on first boot (bizosaas.ops.dokploy_owner); run the role (--tags dokploy) "
                    "first, or pass api_key."
                )
        return cls(
            url=params.get("api_url") or DEFAULT_URL,
            api_key=key or None,
            timeout=params.get("timeout") or 30,
            startup_wait=params.get("startup_wait") if params.get("startup_wait") is not None else 60,
            key_file=key_file,
        )

    # -- the calls --------------------------------------------------------------------------------
    def get(self, endpoint: str, **params: Any) -> Any:
        return self.request("GET", endpoint, params=params).data

    def post(self, endpoint: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", endpoint, body=body or {}).data

    def path(self, endpoint: str) -> str:
        return endpoint if endpoint.startswith("/") else f"/api/{endpoint}"

    def request(
        self,
        method: str,
        endpoint: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        auth: bool = True,
        cookies: dict[str, str] | None = None,
        follow_redirects: bool = True,
        accept: tuple[int, ...] = (),
        timeout: int | None = None,
    ) -> Response:
        """One call, retried only while Dokploy is starting (connection refused, 502, 503) and for at
        most startup_wait seconds. A status in `accept` is returned instead of raised; `timeout` overrides
        the client's for one slow call."""
        timeout = timeout or self.timeout
        url = self.url + self.path(endpoint)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.api_key:
            headers["x-api-key"] = self.api_key
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.calls.append((method, endpoint))
        deadline = self.clock() + self.startup_wait
        while True:
            try:
                resp = self._http.open(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    follow_redirects="urllib2" if follow_redirects else "none",
                )
                raw = resp.read()
                return Response(resp.getcode(), resp.headers, _decode(raw))
            except urllib.error.HTTPError as exc:
                raw = exc.read() if exc.fp is not None else b""
                status = exc.code
                decoded = _decode(raw)
                if status in accept:
                    return Response(status, exc.headers, decoded)
                if status in RETRY_STATUSES and self.clock() < deadline:
                    self.sleep(RETRY_INTERVAL)
                    continue
                raise self._http_error(method, endpoint, status, decoded) from None
            except TimeoutError:
                raise DokployError(
                    f"Dokploy did not answer {method} {self.path(endpoint)} at {self.url} within {timeout}s. "
                    "It may be overloaded or stuck: see `docker service ps dokploy` and `docker service logs "
                    "dokploy`; raise the module's timeout for slow calls.",
                    endpoint=endpoint,
                    timed_out=True,
                ) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                # A refused connection never reached Dokploy; a reset one may have, so only a GET is
                # retried after a reset (a repeated project.create would make a second project).
                if (_refused(exc) or (method == "GET" and _reset(exc))) and self.clock() < deadline:
                    self.sleep(RETRY_INTERVAL)
                    continue
                if _refused(exc):
                    waited = f" (retried for {self.startup_wait}s)" if self.startup_wait else ""
                    raise DokployError(
                        f"Cannot reach Dokploy at {self.url} for {method} {self.path(endpoint)}: connection "
                        f"refused{waited}. Dokploy is not running or not listening there: check `docker service "
                        "ps dokploy` and `docker service logs dokploy`, and the module's api_url.",
                        endpoint=endpoint,
                    ) from None
                reason = getattr(exc, "reason", exc)
                raise DokployError(
                    f"Cannot reach Dokploy at {self.url} for {method} {self.path(endpoint)}: {reason}. Check "
                    "api_url and that the dokploy service runs (`docker service ps dokploy`).",
                    endpoint=endpoint,
                ) from None

    def _http_error(self, method: str, endpoint: str, status: int, body: Any) -> DokployError:
        where = f"{method} {self.path(endpoint)}"
        said = _message(body)
        said_part = f": {said}" if said else ""
        if status in (401, 403):
            if self.api_key:
                msg = f"Dokploy refused the API key on {where} (HTTP {status}{said_part}). " + KEY_HELP.format(
                    key_file=self.key_file
                )
            else:
                msg = f"Dokploy refused {where} (HTTP {status}{said_part}): the request carried no valid credentials."
        elif status == 404:
            msg = (
                f"Dokploy answered 404 on {where}{said_part}. Either the object is gone (deleted in Dokploy's UI?) "
                "or this endpoint does not exist in the running Dokploy: these modules follow Dokploy v0.30.2's "
                "API; check dokploy_version against `docker service inspect dokploy`."
            )
        elif status >= 500:
            msg = (
                f"Dokploy failed on {where} (HTTP {status}{said_part}). Its log says why: `docker service logs "
                "--tail 100 dokploy`."
            )
        else:
            msg = f"Dokploy rejected {where} (HTTP {status}{said_part})."
        if self.api_key:
            msg = msg.replace(self.api_key, "********")
        return DokployError(msg, status=status, endpoint=endpoint, body=body)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- shared lookups -------------------------------------------------------------------------------

# The command Dokploy runs by default (createCommand in its utils/builders/compose.ts), with the stack or
# Compose project name fixed: Dokploy's API cannot set an exact appName, so dokploy_compose pins it here.
STACK_COMMAND = "stack deploy -c docker-compose.yml {name} --prune --with-registry-auth"
COMPOSE_COMMAND = "compose -p {name} -f docker-compose.yml up -d --build --remove-orphans"
_COMMAND_NAME_RE = (
    re.compile(r"^stack deploy -c docker-compose\.yml (\S+) --prune --with-registry-auth$"),
    re.compile(r"^compose -p (\S+) -f docker-compose\.yml up -d --build --remove-orphans$"),
)


def stack_name(compose: dict) -> str | None:
    """The stack a compose deploys: its pinned command's name, else Dokploy's appName; None for another command."""
    command = (compose.get("command") or "").strip()
    if not command:
        return compose.get("appName")
    for pattern in _COMMAND_NAME_RE:
        m = pattern.match(command)
        if m:
            return m.group(1)
    return None


SERVICE_KINDS = ("applications", "compose", "libsql", "mariadb", "mongo", "mysql", "postgres", "redis")


def find_one(items: list[dict], what: str, **match: Any) -> dict | None:
    """The single item whose keys equal `match`; None when there is none; an error when there are two
    (Dokploy allows duplicate names, these modules identify objects by name)."""
    found = [i for i in items if all(i.get(k) == v for k, v in match.items())]
    if len(found) > 1:
        ids = ", ".join(str(i.get("projectId") or i.get("environmentId") or i.get("composeId")) for i in found)
        raise DokployError(
            f"Dokploy has {len(found)} {what} with {match} ({ids}). These modules identify objects by name: "
            "rename or delete the extra ones in Dokploy's UI."
        )
    return found[0] if found else None


def service_count(environment: dict) -> int:
    return sum(len(environment.get(kind) or []) for kind in SERVICE_KINDS)


def webhook_path(refresh_token: str) -> str:
    return f"/api/deploy/compose/{refresh_token}"


def latest_deployments(deployments: list[dict] | None, limit: int) -> list[dict]:
    """Newest first (Dokploy's createdAt is an ISO-8601 string), reduced to what a report needs."""
    ordered = sorted(deployments or [], key=lambda d: str(d.get("createdAt") or ""), reverse=True)
    return [
        {
            "deployment_id": d.get("deploymentId"),
            "status": d.get("status"),
            "title": d.get("title"),
            "created_at": d.get("createdAt"),
            "finished_at": d.get("finishedAt"),
            "error_message": d.get("errorMessage"),
        }
        for d in ordered[: max(0, limit)]
    ]
