"""wagtail-cms image: the real Wagtail CMS the kit builds from PyPI, against the kit's Postgres and Redis.

One database for the whole module, used the way a deploy uses it: version 1.0.0 migrates and serves,
2.0.0 migrates under it (additive: 1.0.0 keeps serving and writing) and then serves, 2.0.1-broken's
migration fails and changes nothing. Containers, the network and the media volume are named `wg-*`
and removed afterwards.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.kit.kitlib import ROOT, docker, health, kit_ref, wait_for

HOST = "cms.bizoholic.test"
ORIGIN = f"https://{HOST}"
PINS = json.loads((ROOT / "images" / "versions.json").read_text())["wagtail-cms"]
BROKEN_MESSAGE = "bizosaas wagtail-cms 2.0.1-broken: migration home.0004_bizosaas_broken fails on purpose"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str
    cookies: dict[str, str] = field(default_factory=dict)


def call(ip: str, path: str, *, method: str = "GET", host: str = HOST, body: dict[str, str] | None = None,
         cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Reply:
    """One request to a container's gunicorn with an explicit Host header (ALLOWED_HOSTS); the
    cookies it sets are returned (secure ones too: the app sees https through X-Forwarded-Proto)."""
    conn = http.client.HTTPConnection(ip, 8000, timeout=30)
    hdrs = {"Host": host, **(headers or {})}
    if cookies:
        hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        set_cookies = {}
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, value = v.split(";", 1)[0].partition("=")
                set_cookies[name] = value
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, text, set_cookies)
    finally:
        conn.close()


def health_json(ip: str) -> tuple[int, dict]:
    r = call(ip, "/health/", host="127.0.0.1")
    return r.status, json.loads(r.body)


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


@dataclass
class Stack:
    suffix: str
    net: str
    pg: str
    redis: str
    media: str
    env: dict[str, str]
    names: list[str] = field(default_factory=list)

    def _args(self, env: dict[str, str] | None) -> list[str]:
        args = ["--network", self.net, "--label", "org.bizosaas.test=kit", "-v", f"{self.media}:/app/media"]
        for k, v in {**self.env, **(env or {})}.items():
            args += ["-e", f"{k}={v}"]
        return args

    def once(self, version: str, *cmd: str, env: dict[str, str] | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
        """A one-shot container of a version (a migration job, a seed): its exit status and output."""
        return docker("run", "--rm", *self._args(env), kit_ref(f"wagtail-cms:{version}"), *cmd,
                      check=False, timeout=timeout)

    def manage(self, version: str, *cmd: str, env: dict[str, str] | None = None) -> str:
        proc = self.once(version, "python", "manage.py", *cmd, env=env)
        assert proc.returncode == 0, f"manage.py {' '.join(cmd)} on {version} failed:\n{output(proc)}"
        return proc.stdout

    def serve(self, version: str) -> str:
        """Start the version's default command (gunicorn), a short health interval for the tests; its IP
        once Docker says it is healthy."""
        name = f"wg-{version.replace('.', '-')}-{self.suffix}"
        docker("run", "-d", "--name", name, "--health-interval", "2s", "--health-retries", "2",
               *self._args(None), kit_ref(f"wagtail-cms:{version}"))
        self.names.append(name)
        wait_for(f"{name} to be healthy", lambda: health(name) == "healthy", timeout=120, interval=1,
                 container=name)
        nets = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name).stdout)
        return nets[self.net]["IPAddress"]

    def psql(self, sql: str) -> str:
        return docker("exec", self.pg, "psql", "-U", "bizoholic", "-d", "bizoholic", "-At", "-c", sql).stdout.strip()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    sfx = uuid.uuid4().hex[:6]
    pg_pw, redis_pw = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    s = Stack(sfx, f"wg-net-{sfx}", f"wg-postgres-{sfx}", f"wg-redis-{sfx}", f"wg-media-{sfx}", env={
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DATABASE_URL": f"postgres://bizoholic:{pg_pw}@postgres:5432/bizoholic",
        "REDIS_URL": f"redis://bizoholic:{redis_pw}@redis:6379/0",
        "REDIS_PREFIX": "bizoholic:",
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": ORIGIN,
    })
    docker("network", "create", s.net)
    docker("volume", "create", s.media)
    try:
        docker("run", "-d", "--name", s.pg, "--network", s.net, "--network-alias", "postgres",
               "--label", "org.bizosaas.test=kit", "-e", "POSTGRES_USER=bizoholic", "-e", "POSTGRES_DB=bizoholic",
               "-e", f"POSTGRES_PASSWORD={pg_pw}", kit_ref("postgres"))
        docker("run", "-d", "--name", s.redis, "--network", s.net, "--network-alias", "redis",
               "--label", "org.bizosaas.test=kit", kit_ref("redis"), "--requirepass", "redis-admin")
        # the platform's Redis ACL: the app's user may touch its own prefix only
        wait_for("redis to answer", lambda: docker("exec", s.redis, "redis-cli", "--no-auth-warning", "-a",
                                                   "redis-admin", "PING", check=False).stdout.strip() == "PONG")
        docker("exec", s.redis, "redis-cli", "--no-auth-warning", "-a", "redis-admin", "ACL", "SETUSER",
               "bizoholic", "on", f">{redis_pw}", "~bizoholic:*", "+@all", "-@dangerous")
        wait_for(f"{s.pg} to be healthy", lambda: health(s.pg) == "healthy", timeout=120, interval=1)
        yield s
    finally:
        for name in [*reversed(s.names), s.redis, s.pg]:
            docker("rm", "-f", "-v", name, check=False)
        docker("volume", "rm", "-f", s.media, check=False)
        docker("network", "rm", s.net, check=False)


@pytest.fixture(scope="module")
def v1(stack: Stack) -> str:
    """1.0.0 migrated (the deploy's one-shot job) and serving; its IP."""
    proc = stack.once("1.0.0", "python", "manage.py", "migrate", "--noinput")
    assert proc.returncode == 0, output(proc)
    assert "Applying home.0002_create_homepage... OK" in proc.stdout
    return stack.serve("1.0.0")


@pytest.fixture(scope="module")
def v2_migrated(stack: Stack, v1: str) -> str:
    """2.0.0's migration run against 1.0.0's database while 1.0.0 serves a page; its output."""
    stack.manage("1.0.0", "bizosaas_seed", "--title", "Written by 1.0.0", "--slug", "before-v2")
    assert call(v1, "/before-v2/").status == 200
    proc = stack.once("2.0.0", "python", "manage.py", "migrate", "--noinput")
    assert proc.returncode == 0, output(proc)
    return proc.stdout


# --------------------------------------------------------------------------- the image itself
@pytest.mark.parametrize("version", list(PINS["tags"]))
def test_image_is_the_real_app_labelled_with_its_version(version: str) -> None:
    image = kit_ref(f"wagtail-cms:{version}")
    cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image).stdout)
    labels = cfg["Labels"]
    assert labels["org.bizosaas.kit.real-app"] == "true"
    assert labels["org.opencontainers.image.version"] == version
    assert labels.get("org.bizosaas.kit.recipe") and "org.bizosaas.kit.standin" not in labels
    assert cfg["User"] == "wagtail" and cfg["WorkingDir"] == "/app" and "8000/tcp" in cfg["ExposedPorts"]
    assert cfg["Cmd"] == ["gunicorn", "--config", "/app/gunicorn.conf.py", "cms.wsgi:application"]
    assert not cfg.get("Entrypoint")  # nothing runs before the command: no migration on start
    assert cfg["Healthcheck"]["Test"] == ["CMD", "python", "/app/healthcheck.py"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["APP_VERSION"] == version and env["DJANGO_SETTINGS_MODULE"] == "cms.settings.production"
    assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} & set(env)  # no secret baked in


def test_image_runs_the_pinned_wagtail_on_debian_python() -> None:
    script = ("import json, sys, django, gunicorn, psycopg, redis, wagtail, whitenoise; "
              "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'base': sys.base_prefix, "
              "'wagtail': wagtail.__version__, 'django': django.__version__, 'gunicorn': gunicorn.__version__, "
              "'psycopg': psycopg.__version__, 'impl': psycopg.pq.__impl__, 'redis': redis.__version__}))")
    got = json.loads(docker("run", "--rm", kit_ref("wagtail-cms:1.0.0"), "python", "-c", script).stdout)
    pypi = PINS["pypi"]
    assert got["python"] == PINS["python"] and got["base"] == "/usr"  # Debian's Python, in a venv
    for name in ("wagtail", "django", "gunicorn", "psycopg", "redis"):
        assert got[name] == pypi[name], (name, got)
    assert got["impl"] == "binary"  # psycopg-binary, no libpq from Debian needed
    # the project is Wagtail's template, as `wagtail start` wrote it, without dev.py (its SECRET_KEY)
    listing = docker("run", "--rm", kit_ref("wagtail-cms:1.0.0"), "sh", "-c",
                     "ls /app /app/cms/settings /app/home/migrations; grep -rl 'SECRET_KEY =' /app").stdout
    for name in ("manage.py", "search", "base.py", "production.py", "0002_create_homepage.py"):
        assert name in listing, listing
    assert "dev.py" not in listing and listing.split()[-1] == "/app/cms/settings/production.py", listing


def test_missing_or_malformed_settings_stop_the_app(stack: Stack) -> None:
    proc = stack.once("1.0.0", "python", "manage.py", "check", env={"SECRET_KEY": ""})
    assert proc.returncode != 0 and "SECRET_KEY is not set" in output(proc), output(proc)
    proc = stack.once("1.0.0", "python", "manage.py", "check", env={"DEBUG": "maybe"})
    assert proc.returncode != 0 and "DEBUG='maybe'" in output(proc), output(proc)
    proc = stack.once("1.0.0", "python", "manage.py", "check", env={"CSRF_TRUSTED_ORIGINS": HOST})
    assert proc.returncode != 0 and "is not an origin" in output(proc), output(proc)


# --------------------------------------------------------------------------- version 1
def test_v1_serves_the_admin_login_static_files_and_health(v1: str) -> None:
    login = call(v1, "/admin/login/")
    assert login.status == 200, login.body[:500]
    assert 'name="username"' in login.body and 'name="password"' in login.body and "Sign in" in login.body
    assert login.headers["x-app-version"] == "1.0.0"
    css = re.search(r'href="(/static/wagtailadmin/css/core\.[0-9a-f]+\.css)"', login.body)
    assert css, "the login page links no hashed static file (collectstatic with the manifest storage)"
    static = call(v1, css.group(1))
    assert static.status == 200 and static.headers["content-type"].startswith("text/css")
    assert "immutable" in static.headers.get("cache-control", "")  # whitenoise, for hashed names
    assert call(v1, "/admin/login/", host="other.example").status == 400  # ALLOWED_HOSTS holds
    code, body = health_json(v1)
    assert code == 200 and body == {"status": "ok", "version": "1.0.0",
                                    "checks": {"database": "ok", "cache": "ok"}}, body


def test_v1_serves_a_seeded_page(stack: Stack, v1: str) -> None:
    first = json.loads(stack.manage("1.0.0", "bizosaas_seed", "--title", "Hello from the kit", "--slug", "kit-hello"))
    assert first["created"] is True and first["url"] == "/kit-hello/"
    page = call(v1, "/kit-hello/")
    assert page.status == 200 and "<h1>Hello from the kit</h1>" in page.body
    again = json.loads(stack.manage("1.0.0", "bizosaas_seed", "--title", "Hello again", "--slug", "kit-hello"))
    assert again["created"] is False and again["id"] == first["id"]
    assert "<h1>Hello again</h1>" in call(v1, "/kit-hello/").body
    assert call(v1, "/no-such-page/").status == 404
    proc = stack.once("1.0.0", "python", "manage.py", "bizosaas_seed", "--title", "x", "--slug", "x",
                      "--subtitle", "y")
    assert proc.returncode != 0 and "no subtitle field in version 1.0.0" in output(proc), output(proc)


def test_v1_admin_login_with_a_superuser(stack: Stack, v1: str) -> None:
    """Django's createsuperuser --noinput from the environment, then a real sign-in over (proxied) https."""
    password = secrets.token_urlsafe(16)
    stack.manage("1.0.0", "createsuperuser", "--noinput", env={
        "DJANGO_SUPERUSER_USERNAME": "admin", "DJANGO_SUPERUSER_EMAIL": "admin@bizoholic.test",
        "DJANGO_SUPERUSER_PASSWORD": password})
    https = {"X-Forwarded-Proto": "https"}  # what Traefik adds; the cookies are Secure (SECURE_COOKIES)
    form = call(v1, "/admin/login/", headers=https)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.body)
    assert token and "csrftoken" in form.cookies
    cookies = dict(form.cookies)
    signed = call(v1, "/admin/login/", method="POST", cookies=cookies,
                  headers={**https, "Origin": ORIGIN, "Referer": f"{ORIGIN}/admin/login/"},
                  body={"csrfmiddlewaretoken": token.group(1), "username": "admin", "password": password,
                        "next": "/admin/"})
    assert signed.status == 302 and signed.headers["location"] == "/admin/", (signed.status, signed.body[:500])
    cookies.update(signed.cookies)
    assert "sessionid" in cookies
    dashboard = call(v1, "/admin/", cookies=cookies, headers=https)
    assert dashboard.status == 200 and "Dashboard" in dashboard.body
    wrong = call(v1, "/admin/login/", method="POST", cookies=dict(form.cookies),
                 headers={**https, "Origin": ORIGIN, "Referer": f"{ORIGIN}/admin/login/"},
                 body={"csrfmiddlewaretoken": token.group(1), "username": "admin", "password": "wrong"})
    assert wrong.status == 200 and "sessionid" not in wrong.cookies


def test_v1_serves_media_written_through_the_storage(stack: Stack, v1: str) -> None:
    put = json.loads(stack.manage("1.0.0", "bizosaas_media_put", "kit/hello.txt", "written by 1.0.0"))
    assert put == {"name": "kit/hello.txt", "url": "/media/kit/hello.txt", "size": 16}
    media = call(v1, "/media/kit/hello.txt")
    assert media.status == 200 and media.body == "written by 1.0.0"
    assert call(v1, "/media/kit/missing.txt").status == 404
    proc = stack.once("1.0.0", "python", "manage.py", "bizosaas_media_put", "../escape.txt", "x")
    assert proc.returncode != 0 and "outside of the base path" in output(proc), output(proc)


def test_cache_keys_stay_under_the_redis_prefix(stack: Stack) -> None:
    script = "from django.core.cache import cache; cache.set('probe', 'v', 60); print(cache.get('probe'))"
    assert stack.manage("1.0.0", "shell", "-c", script).strip().splitlines()[-1] == "v"
    keys = docker("exec", stack.redis, "redis-cli", "--no-auth-warning", "-a", "redis-admin", "KEYS", "*probe*").stdout
    assert keys.split() == ["bizoholic:1:probe"]
    proc = stack.once("1.0.0", "python", "manage.py", "shell", "-c", script, env={"REDIS_PREFIX": "coreldove:"})
    assert proc.returncode != 0 and "NoPermissionError" in output(proc), output(proc)  # the ACL refuses


def test_v1_health_follows_the_database(stack: Stack, v1: str) -> None:
    name = f"wg-1-0-0-{stack.suffix}"
    docker("stop", stack.pg)
    try:
        code, body = health_json(v1)
        assert code == 503 and body["status"] == "error" and body["checks"]["database"].startswith("error: "), body
        check = docker("exec", name, "python", "/app/healthcheck.py", check=False)
        assert check.returncode == 1 and "unhealthy: HTTP 503" in check.stdout, check.stdout
        wait_for(f"{name} to turn unhealthy", lambda: health(name) == "unhealthy", timeout=60, interval=1)
    finally:
        docker("start", stack.pg)
    wait_for(f"{stack.pg} to be healthy", lambda: health(stack.pg) == "healthy", timeout=120, interval=1)
    wait_for("/health/ to be 200 again", lambda: health_json(v1)[0] == 200, timeout=60, interval=1)
    wait_for(f"{name} to be healthy again", lambda: health(name) == "healthy", timeout=60, interval=1)
    assert call(v1, "/kit-hello/").status == 200


# --------------------------------------------------------------------------- version 2 and the broken one
def test_v2_migration_is_additive_and_v1_keeps_serving_and_writing(stack: Stack, v1: str, v2_migrated: str) -> None:
    assert "Applying home.0003_homepage_subtitle... OK" in v2_migrated
    assert stack.psql("SELECT is_nullable, column_default FROM information_schema.columns "
                      "WHERE table_name = 'home_homepage' AND column_name = 'subtitle'") == "NO|''::character varying"
    # 1.0.0, which does not know the field, still reads and writes pages on the migrated schema
    assert "<h1>Written by 1.0.0</h1>" in call(v1, "/before-v2/").body
    assert call(v1, "/admin/login/").status == 200 and health_json(v1)[0] == 200
    stack.manage("1.0.0", "bizosaas_seed", "--title", "Written by 1.0.0 after 2.0.0 migrated", "--slug", "after-v2")
    assert "<h1>Written by 1.0.0 after 2.0.0 migrated</h1>" in call(v1, "/after-v2/").body
    assert stack.psql("SELECT subtitle = '' FROM home_homepage h JOIN wagtailcore_page p ON p.id = h.page_ptr_id "
                      "WHERE p.slug = 'after-v2'") == "t"  # the column's database default


def test_v2_serves_its_field_and_the_media_kept(stack: Stack, v1: str, v2_migrated: str) -> None:
    stack.manage("1.0.0", "bizosaas_media_put", "kit/redeploy.txt", "kept across versions")
    v2 = stack.serve("2.0.0")  # a new container of a new version on the same media volume
    code, body = health_json(v2)
    assert code == 200 and body["version"] == "2.0.0", body
    assert call(v2, "/media/kit/redeploy.txt").body == "kept across versions"
    seeded = json.loads(stack.manage("2.0.0", "bizosaas_seed", "--title", "Written by 2.0.0", "--slug", "v2-page",
                                     "--subtitle", "the field 2.0.0 added"))
    assert seeded["version"] == "2.0.0"
    page = call(v2, "/v2-page/")
    assert page.status == 200 and page.headers["x-app-version"] == "2.0.0"
    assert '<p class="subtitle">the field 2.0.0 added</p>' in page.body
    assert "<h1>Written by 1.0.0</h1>" in call(v2, "/before-v2/").body  # 1.0.0's pages
    old = call(v1, "/v2-page/")  # and 1.0.0 serves 2.0.0's page, without the field it does not know
    assert old.status == 200 and "<h1>Written by 2.0.0</h1>" in old.body and "subtitle" not in old.body


def test_broken_migration_fails_and_leaves_the_schema(stack: Stack, v1: str, v2_migrated: str) -> None:
    before = stack.psql("SELECT name FROM django_migrations WHERE app = 'home' ORDER BY id")
    assert before.splitlines()[-1] == "0003_homepage_subtitle"
    proc = stack.once("2.0.1-broken", "python", "manage.py", "migrate", "--noinput")
    assert proc.returncode != 0
    assert "Applying home.0004_bizosaas_broken..." in proc.stdout, output(proc)
    assert f"RuntimeError: {BROKEN_MESSAGE}" in proc.stderr, output(proc)
    # the migration's own ALTER TABLE was rolled back with it: the schema is 2.0.0's
    assert stack.psql("SELECT name FROM django_migrations WHERE app = 'home' ORDER BY id") == before
    columns = stack.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'home_homepage' "
                         "ORDER BY column_name").split()
    assert columns == ["page_ptr_id", "subtitle"]
    # and the version that served before still serves
    assert call(v1, "/kit-hello/").status == 200 and health_json(v1)[0] == 200
