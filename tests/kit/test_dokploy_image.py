"""dokploy image: the real Dokploy v0.30.2 server, built from source by the kit, against the kit's Postgres.

The containers and the network are named `dkimg-*` and removed afterwards. Dokploy gets what its
installer gives it: Postgres as `dokploy-postgres` with the password in a secret file
(POSTGRES_PASSWORD_FILE), BETTER_AUTH_SECRET, and the Docker socket.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.kit.kitlib import docker, health, kit_ref, wait_for

VERSION = "v0.30.2"


@dataclass
class Reply:
    status: int
    body: dict | list | str
    headers: dict[str, str] = field(default_factory=dict)


def call(method: str, url: str, body: object = None, headers: dict[str, str] | None = None,
         timeout: float = 60) -> Reply:
    """One HTTP request; the reply also for 4xx/5xx answers (JSON parsed when it is JSON)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(), exc.headers
    try:
        parsed: dict | list | str = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Reply(status, parsed, {k.lower(): v for k, v in hdrs.items()})


def trpc_data(reply: Reply) -> object:
    """The value of a tRPC answer (Dokploy's transformer is superjson: {"result": {"data": {"json": ...}}})."""
    assert reply.status == 200, reply
    assert isinstance(reply.body, dict), reply
    return reply.body["result"]["data"]["json"]


@dataclass
class Dokploy:
    url: str
    container: str
    postgres: str


@pytest.fixture(scope="module")
def dokploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dokploy]:
    suffix = uuid.uuid4().hex[:6]
    net, pg, app = f"dkimg-net-{suffix}", f"dkimg-postgres-{suffix}", f"dkimg-dokploy-{suffix}"
    image, pg_image = kit_ref("dokploy"), kit_ref("postgres")
    secret_dir = tmp_path_factory.mktemp("dokploy-secrets")
    pw = secret_dir / "postgres_password"
    pw.write_text(secrets.token_urlsafe(18) + "\n")
    for p in (secret_dir, pw):
        p.chmod(0o755 if p.is_dir() else 0o644)
    # Dokploy creates the overlay `dokploy-network` when the daemon is a swarm manager (this host is not,
    # and then it only logs an error): if it does here, that network is this test's to remove.
    had_network = docker("network", "inspect", "dokploy-network", check=False).returncode == 0
    docker("network", "create", net)
    try:
        # Dokploy's installer layout: dokploy-postgres, user and database dokploy, the password as a secret
        docker("run", "-d", "--name", pg, "--network", net, "--network-alias", "dokploy-postgres",
               "--label", "org.bizosaas.test=kit", "-e", "POSTGRES_USER=dokploy", "-e", "POSTGRES_DB=dokploy",
               "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password",
               "-v", f"{pw}:/run/secrets/postgres_password:ro", pg_image)
        docker("run", "-d", "--name", app, "--network", net, "--label", "org.bizosaas.test=kit",
               "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password",
               "-e", f"BETTER_AUTH_SECRET={secrets.token_hex(32)}",
               "-v", f"{pw}:/run/secrets/postgres_password:ro",
               "-v", "/var/run/docker.sock:/var/run/docker.sock", image)
        ip = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", app).stdout)[net]["IPAddress"]
        yield Dokploy(f"http://{ip}:3000", app, pg)
    finally:
        for name in (app, pg):
            docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", net, check=False)
        if not had_network:
            docker("network", "rm", "dokploy-network", check=False)


def server_log(d: Dokploy) -> str:
    p = docker("logs", d.container, check=False)
    return p.stdout + p.stderr


@pytest.fixture(scope="module")
def started(dokploy: Dokploy) -> Dokploy:
    """The server has run its migrations and answers settings.health (its database check)."""
    wait_for("Dokploy's settings.health to answer 200",
             lambda: call("GET", dokploy.url + "/api/trpc/settings.health").status == 200,
             timeout=240, interval=2, container=dokploy.container)
    return dokploy


def test_image_is_the_real_build_not_a_standin() -> None:
    image = kit_ref("dokploy")
    labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", image).stdout)
    assert labels.get("org.bizosaas.kit.upstream-build") == "true"
    assert "org.bizosaas.kit.standin" not in labels
    assert labels.get("org.bizosaas.kit.recipe")
    out = docker("run", "--rm", "--entrypoint", "sh", image, "-c",
                 "node --version; node -p 'require(\"/app/package.json\").version'; "
                 "test -f /app/.next/BUILD_ID && test ! -e /app/.next/cache && echo next-ok; "
                 "docker --version; docker compose version; git lfs version; tini --version").stdout
    lines = out.splitlines()
    assert lines[:3] == ["v24.4.0", VERSION, "next-ok"], out
    assert lines[3].startswith("Docker version ") and "Docker Compose version" in lines[4], out
    assert lines[5].startswith("git-lfs/") and lines[6].startswith("tini version"), out


def test_health_migrations_and_healthcheck(started: Dokploy) -> None:
    reply = call("GET", started.url + "/api/health")
    assert (reply.status, reply.body) == (200, {"ok": True}), reply
    assert trpc_data(call("GET", started.url + "/api/trpc/settings.health")) == {"status": "ok"}
    log = server_log(started)
    assert "Migration complete" in log and f"Running DokployVersion:  {VERSION}" in log, log[-3000:]
    # the image's HEALTHCHECK command, run now rather than after its 30 s interval
    docker("exec", started.container, "sh", "-c", "curl -fs http://localhost:3000/api/trpc/settings.health")
    assert health(started.container) in ("starting", "healthy")
    # what it wrote for Traefik on first start (it never starts Traefik itself)
    files = docker("exec", started.container, "find", "/etc/dokploy/traefik", "-name", "*.yml").stdout.split()
    assert set(files) >= {"/etc/dokploy/traefik/traefik.yml", "/etc/dokploy/traefik/dynamic/dokploy.yml",
                          "/etc/dokploy/traefik/dynamic/middlewares.yml"}, files


OWNER = {"email": "owner@example.test", "password": "Owner-pass-12345", "name": "Owner", "lastName": "Kit"}


def session_cookie(reply: Reply) -> str:
    cookie = reply.headers.get("set-cookie", "").split(";", 1)[0]
    assert cookie.startswith("better-auth.session_token="), reply.headers
    return cookie


@pytest.fixture(scope="module")
def owner(started: Dokploy) -> dict[str, str]:
    """The first sign-up: the owner and the organization Dokploy makes for it; then a session from a
    sign-in. (The first sign-up looks up the server's public IP, which times out twice offline: it
    answers after about 60 s here. The sign-up's own session has no active organization yet, because
    the organization is created after it; a sign-in's session has it.)"""
    reply = call("POST", started.url + "/api/auth/sign-up/email", OWNER, timeout=240)
    assert reply.status == 200, reply
    assert isinstance(reply.body, dict) and reply.body["user"]["email"] == OWNER["email"], reply
    orgs = trpc_data(call("GET", started.url + "/api/trpc/organization.all",
                          headers={"Cookie": session_cookie(reply)}))
    assert isinstance(orgs, list) and len(orgs) == 1, orgs
    assert [(m["userId"], m["role"]) for m in orgs[0]["members"]] == [(reply.body["user"]["id"], "owner")], orgs
    login = call("POST", started.url + "/api/auth/sign-in/email",
                 {"email": OWNER["email"], "password": OWNER["password"]})
    assert login.status == 200, login
    cookie = session_cookie(login)
    session = call("GET", started.url + "/api/auth/get-session", headers={"Cookie": cookie})
    assert isinstance(session.body, dict) and session.body["session"]["activeOrganizationId"] == orgs[0]["id"]
    return {"cookie": cookie, "organization": orgs[0]["id"]}


def test_owner_sign_up_once_then_refused(started: Dokploy, owner: dict[str, str]) -> None:
    # Dokploy refuses any further sign-up without an invitation token once an owner exists
    # (packages/server/src/lib/auth.ts, databaseHooks.user.create.before: "Admin is already created").
    other = {**OWNER, "email": "intruder@example.test"}
    reply = call("POST", started.url + "/api/auth/sign-up/email", other)
    assert reply.status == 400, reply
    assert isinstance(reply.body, dict) and reply.body.get("message") == "Admin is already created", reply
    # the owner's address again: better-auth's own check comes first
    again = call("POST", started.url + "/api/auth/sign-up/email", OWNER)
    assert again.status == 422, again
    assert isinstance(again.body, dict) and again.body.get("code") == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
    wrong = call("POST", started.url + "/api/auth/sign-in/email",
                 {"email": OWNER["email"], "password": "not-the-password"})
    assert wrong.status == 401, wrong
    assert isinstance(wrong.body, dict) and wrong.body.get("code") == "INVALID_EMAIL_OR_PASSWORD", wrong


def create_key(d: Dokploy, owner: dict[str, str], name: str, **limits: object) -> str:
    created = trpc_data(call(
        "POST", d.url + "/api/trpc/user.createApiKey",
        {"json": {"name": name, "metadata": {"organizationId": owner["organization"]}, **limits}},
        headers={"Cookie": owner["cookie"]},
    ))
    assert isinstance(created, dict) and created["key"], created
    return created["key"]


def test_api_key_without_rate_limit(started: Dokploy, owner: dict[str, str]) -> None:
    key = create_key(started, owner, "bizosaas-kit-test", rateLimitEnabled=False)
    # more than the default 10 requests a day: rate limiting is off for this key
    for _ in range(12):
        assert trpc_data(call("GET", started.url + "/api/trpc/project.all", headers={"x-api-key": key})) == []
    rest = call("GET", started.url + "/api/project.all", headers={"x-api-key": key})  # the OpenAPI route
    assert (rest.status, rest.body) == (200, []), rest
    # a wrong key, and no key, are refused on both routes
    for headers in ({"x-api-key": key[:-4] + "xxxx"}, {}):
        assert call("GET", started.url + "/api/project.all", headers=headers).status == 401
        assert call("GET", started.url + "/api/trpc/project.all", headers=headers).status == 401


def test_api_key_default_rate_limit_refuses_with_401(started: Dokploy, owner: dict[str, str]) -> None:
    """Why the toolkit's key must be created with rateLimitEnabled false: a key created with the
    defaults (10 verifications a day; the REST route verifies twice per request) soon gets 401."""
    key = create_key(started, owner, "bizosaas-kit-default-limits")
    codes = [call("GET", started.url + "/api/project.all", headers={"x-api-key": key}).status for _ in range(12)]
    assert codes[0] == 200 and codes[-1] == 401, codes
    assert set(codes) == {200, 401}, codes


def test_the_server_needs_no_redis(started: Dokploy) -> None:
    """v0.30.2's server runs without Redis (its deployment queue is in-process): nothing in the log
    tries to reach one, and the API works with only Postgres on the network."""
    log = server_log(started)
    assert "Starting Deployment Worker" in log, log[-3000:]
    assert "redis" not in log.lower() and "ECONNREFUSED" not in log, log[-3000:]

