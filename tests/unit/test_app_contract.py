"""The app contract (docs/app-contract.md): env_from_secrets and the env shim, app secrets, migrations,
persistent volumes, health without curl, workers. Filters (plugins/filter/platforms.py), the shim
script (roles/platform_stack/files/env-shim.sh) run by real shells, the migration job's command line
(files/migrate.py) and the stack file rendered from the real platform data."""

from __future__ import annotations

import copy
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter.platforms import (
    SHIM_TARGET,
    default_health_command,
    history_line,
    migration_jobs,
    platform_services,
    platform_volumes,
    platforms_validate,
    required_secrets,
    secret_vars,
    vault_names,
)

from tests.unit.test_platform_filters import CTX, SECRETS, real_platforms, render_stack

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "roles/platform_stack/files/env-shim.sh"
WAGTAIL = "172.28.0.1:5000/bizosaas/wagtail-cms-bizoholic:1.0.0"
WAGTAIL_CONFIG = {"entrypoint": [], "cmd": ["gunicorn", "--config", "/app/gunicorn.conf.py", "cms.wsgi:application"]}
BIZ_CTX = {**CTX, "edge_network": "bizosaas-bizoholic-edge", "private_network": "bizosaas-bizoholic",
           "secret_names": {"postgres": "biz_pg", "redis": "biz_rd", "secret_key": "biz_sk"},
           "shim_config": "bizoholic_env-shim_abc", "image_configs": {WAGTAIL: WAGTAIL_CONFIG}}


def validate(platforms: dict, **kw) -> list[str]:
    return platforms_validate(platforms, "example.org", **kw)


# ---- env_from_secrets and app secrets --------------------------------------------------------------
def test_the_real_data_uses_the_contract():
    p = real_platforms()
    wagtail = p["bizoholic"]["services"]["wagtail-cms"]
    assert wagtail["env_from_secrets"] == {"SECRET_KEY": "secret_key", "DATABASE_URL": "postgres_url",
                                           "REDIS_URL": "redis_url"}
    assert wagtail["migrate"] == ["python", "manage.py", "migrate", "--noinput"]
    assert wagtail["volumes"] == [{"name": "bizoholic_wagtail-cms_media", "target": "/app/media", "backup": True}]
    assert validate(p, secrets=SECRETS) == ["bizoholic", "coreldove", "management"]


def test_env_from_secrets_naming_a_missing_secret_is_an_error():
    p = real_platforms()
    p["bizoholic"]["services"]["wagtail-cms"]["env_from_secrets"]["SECRET_KEY"] = "secret_kee"
    with pytest.raises(AnsibleFilterError, match=r"bizosaas_platforms\.bizoholic\.services\.wagtail-cms\."
                       r"env_from_secrets\.SECRET_KEY: 'secret_kee' names no secret of platform bizoholic"):
        validate(p)


def test_env_from_secrets_needs_the_use_behind_a_url():
    p = real_platforms()
    p["bizoholic"]["services"]["wagtail-cms"]["uses"] = ["postgres"]
    with pytest.raises(AnsibleFilterError, match=r"REDIS_URL: redis_url needs the service's redis secret; add redis"):
        validate(p)
    p = real_platforms()
    p["bizoholic"]["services"]["frontend"]["env_from_secrets"] = {"PGPASSWORD": "postgres"}
    with pytest.raises(AnsibleFilterError, match=r"frontend\.env_from_secrets\.PGPASSWORD: the postgres secret is not"):
        validate(p)


def test_a_variable_comes_from_one_place_only():
    p = real_platforms()
    p["bizoholic"]["services"]["wagtail-cms"]["env"]["SECRET_KEY"] = "in clear"
    with pytest.raises(AnsibleFilterError, match=r"SECRET_KEY: also set in .*wagtail-cms\.env"):
        validate(p)


@pytest.mark.parametrize("names", [["postgres"], ["Secret"], "secret_key", ["a", "a"]])
def test_bad_app_secret_names(names):
    p = real_platforms()
    p["bizoholic"]["app_secrets"] = names
    with pytest.raises(AnsibleFilterError, match=r"bizosaas_platforms\.bizoholic\.app_secrets"):
        validate(p)


def test_app_secrets_are_required_only_where_used_and_named_in_the_vault():
    p = real_platforms()
    assert "secret_key" not in required_secrets(p["management"])
    assert secret_vars(p)["bizoholic"]["secret_key"] == "vault_bizoholic_secret_key"
    secrets = copy.deepcopy(SECRETS)
    del secrets["bizoholic"]["secret_key"]
    with pytest.raises(AnsibleFilterError, match="vault_bizoholic_secret_key is missing from the vault"):
        validate(p, selection=["bizoholic"], secrets=secrets, secret_vars=secret_vars(p))
    # make secrets: every declared app secret, and every data secret a service uses
    names = vault_names(p)
    assert {"vault_bizoholic_secret_key", "vault_coreldove_secret_key", "vault_postgres_bizoholic_password",
            "vault_redis_management_password", "vault_postgres_analytics_password"} <= set(names)
    p["management"]["app_secrets"] = ["jwt_key"]  # declared, used by no service yet: generated anyway
    assert "vault_management_jwt_key" in vault_names(p)


def test_the_secrets_generator_writes_the_app_secrets(tmp_path, monkeypatch):
    from tests.harness import secrets as gen

    env = tmp_path / "inventories" / "x"
    (env / "group_vars" / "all").mkdir(parents=True)
    (env / "hosts.yml").write_text("all: {}\n")
    (env / "group_vars" / "all" / "vars.yml").write_text(yaml.safe_dump({"bizosaas_platforms": {
        "shop": {"database": "shop_db", "redis_prefix": "shop:", "app_secrets": ["secret_key", "api_token_salt"],
                 "services": {"web": {"image": "x/web:1", "port": 80, "uses": ["postgres"], "health": "/"}}}}}))
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    generated, _ = gen.referenced_names(env)
    assert {"vault_shop_secret_key", "vault_shop_api_token_salt", "vault_postgres_shop_password"} <= set(generated)


# ---- the service the stack runs -------------------------------------------------------------------
def test_a_service_with_env_from_secrets_runs_through_the_shim():
    s = platform_services(real_platforms()["bizoholic"], "bizoholic", BIZ_CTX)["wagtail-cms"]
    assert s["entrypoint"] == ["/bin/sh", SHIM_TARGET]
    assert s["command"] == WAGTAIL_CONFIG["cmd"], "the image's own command, after the shim"
    assert s["configs"] == [{"source": "bizoholic_env-shim_abc", "target": SHIM_TARGET}]
    assert s["env"]["BIZOSAAS_ENV_FROM_SECRETS"] == ("SECRET_KEY=secret:secret_key DATABASE_URL=postgres_url "
                                                     "REDIS_URL=redis_url")
    assert {"source": "biz_sk", "target": "secret_key"} in s["secrets"]
    assert s["healthcheck"][:5] == ["CMD", "/bin/sh", SHIM_TARGET, "/bin/sh", "-c"]
    assert "curl" not in s["healthcheck"][5].split(" then ")[0], "python3 is tried first"
    assert s["volumes"] == [{"name": "bizoholic_wagtail-cms_media", "target": "/app/media", "backup": True}]
    assert s["placement"] == ["node.role == manager"]
    text = json.dumps(s)
    assert "DATABASE_URL=" not in text.replace("DATABASE_URL=postgres_url", ""), "no value, only the recipe"


def test_the_image_entrypoint_stays_in_front_of_the_command():
    ctx = {**BIZ_CTX, "image_configs": {WAGTAIL: {"entrypoint": ["docker-entrypoint.sh"], "cmd": ["serve"]}}}
    p = real_platforms()
    p["bizoholic"]["services"]["wagtail-cms"]["command"] = ["gunicorn", "--workers", "4"]
    s = platform_services(p["bizoholic"], "bizoholic", ctx)["wagtail-cms"]
    assert s["command"] == ["docker-entrypoint.sh", "gunicorn", "--workers", "4"]
    assert s["migrate"]["args"] == ["docker-entrypoint.sh", "python", "manage.py", "migrate", "--noinput"]


def test_an_unknown_image_config_is_an_error_unless_not_read_yet():
    with pytest.raises(AnsibleFilterError, match=r"entrypoint and command of .* are unknown"):
        platform_services(real_platforms()["bizoholic"], "bizoholic", {**BIZ_CTX, "image_configs": {}})
    first = platform_services(real_platforms()["bizoholic"], "bizoholic", {**BIZ_CTX, "image_configs": None})
    assert first["wagtail-cms"]["needs_image_config"] and not first["frontend"]["needs_image_config"]


def test_a_worker_has_no_route_no_port_and_a_health_command():
    s = platform_services(real_platforms()["coreldove"], "coreldove", {**CTX, "image_configs": None})["saleor-worker"]
    assert not s["routed"] and s["port"] is None and "PORT" not in s["env"]
    assert s["healthcheck"][-1].startswith("celery --app saleor.celeryconf:app inspect ping")
    assert s["volumes"][0]["name"] == "coreldove_saleor_media", "shared with the API, on one node"


def test_a_stand_in_override_drops_the_command_and_the_migration():
    probe = {"image": "bizosaas-kit/probe:1.0.0", "port": 8080, "healthcheck": ["CMD", "python3", "/app/probe.py"],
             "command": [], "migrate": []}
    ctx = {**CTX, "overrides": {"*": probe}, "image_configs": None}
    s = platform_services(real_platforms()["coreldove"], "coreldove", ctx)
    assert s["saleor-backend"]["migrate"] is None and s["saleor-worker"]["command"] == []
    assert migration_jobs(s, "coreldove", "coreldove") == []
    # the healthcheck of the override wins over the data's health path, through the shim
    assert s["saleor-backend"]["healthcheck"] == ["CMD", "/bin/sh", SHIM_TARGET, "python3", "/app/probe.py"]


def test_the_migration_job_is_the_new_image_with_the_services_environment():
    services = platform_services(real_platforms()["bizoholic"], "bizoholic", BIZ_CTX)
    (job,) = migration_jobs(services, "bizoholic", "bizoholic")
    assert job["service"] == "wagtail-cms" and job["image"] == WAGTAIL
    assert job["entrypoint"] == ["/bin/sh", SHIM_TARGET]
    assert job["args"] == ["python", "manage.py", "migrate", "--noinput"]
    assert job["networks"] == ["bizosaas-bizoholic"], "the private overlay only: no route"
    assert job["env"] == services["wagtail-cms"]["env"] and job["secrets"] == services["wagtail-cms"]["secrets"]
    assert len(job["id"]) == 12
    p = real_platforms()
    p["bizoholic"]["services"]["wagtail-cms"]["migrate"] = ["python", "manage.py", "migrate", "home"]
    (other,) = migration_jobs(platform_services(p["bizoholic"], "bizoholic", BIZ_CTX), "bizoholic", "bizoholic")
    assert other["id"] != job["id"], "a changed command is a new migration"


def test_migrate_and_command_must_be_argv_lists():
    for bad in ("python manage.py migrate", [], ["python", ""]):
        p = real_platforms()
        p["bizoholic"]["services"]["wagtail-cms"]["migrate"] = bad
        with pytest.raises(AnsibleFilterError, match=r"wagtail-cms\.migrate"):
            validate(p)


# ---- volumes -------------------------------------------------------------------------------------
def test_a_volume_name_clash_between_platforms_is_an_error():
    p = real_platforms()
    p["coreldove"]["services"]["saleor-backend"]["volumes"] = [{"name": "bizoholic_wagtail-cms_media",
                                                                 "target": "/app/media"}]
    with pytest.raises(AnsibleFilterError, match=r"coreldove\.services\.saleor-backend\.volumes\[0\]\.name: "
                       r"bizoholic_wagtail-cms_media is already the volume of bizoholic/wagtail-cms"):
        validate(p)


def test_services_of_one_platform_may_share_a_volume_and_reserved_names_are_refused():
    p = real_platforms()
    assert validate(p)  # saleor-backend and saleor-worker share coreldove_saleor_media
    p["bizoholic"]["services"]["wagtail-cms"]["volumes"][0]["name"] = "postgres_data"
    with pytest.raises(AnsibleFilterError, match="postgres_data is already the volume of the data services"):
        validate(p, reserved_volumes=["postgres_data", "redis_data"])


@pytest.mark.parametrize("vol", [{"name": "Media", "target": "/m"}, {"name": "m", "target": "media"},
                                 {"name": "m", "target": "/run/secrets"},
                                 {"name": "m", "target": "/m", "backup": "yes"}, "m:/media"])
def test_bad_volumes(vol):
    p = real_platforms()
    p["bizoholic"]["services"]["wagtail-cms"]["volumes"] = [vol]
    with pytest.raises(AnsibleFilterError, match=r"wagtail-cms\.volumes\[0\]"):
        validate(p)


def test_volumes_are_labelled_for_the_backup_role():
    services = platform_services(real_platforms()["coreldove"], "coreldove", {**CTX, "image_configs": None})
    (vol,) = platform_volumes(services, "coreldove")
    assert vol["name"] == "coreldove_saleor_media" and vol["services"] == ["saleor-backend", "saleor-worker"]
    assert vol["labels"] == {"org.bizosaas.platform": "coreldove",
                             "org.bizosaas.services": "saleor-backend,saleor-worker", "org.bizosaas.backup": "true"}


# ---- health --------------------------------------------------------------------------------------
def test_a_service_without_health_is_an_error_unless_an_override_gives_one():
    p = real_platforms()
    del p["management"]["services"]["billing-service"]["health"]
    with pytest.raises(AnsibleFilterError, match=r"management\.services\.billing-service: no health check"):
        validate(p)
    assert validate(p, overrides={"management": {"*": {"healthcheck": ["CMD", "true"]}}})


@pytest.mark.parametrize("check", [["NONE"], ["curl", "x"], ["CMD"], "CMD curl x"])
def test_bad_healthchecks(check):
    p = real_platforms()
    p["management"]["services"]["billing-service"]["healthcheck"] = check
    with pytest.raises(AnsibleFilterError, match=r"billing-service\.healthcheck"):
        validate(p)


def test_a_routed_service_needs_its_port_a_worker_does_not():
    p = real_platforms()
    del p["bizoholic"]["services"]["frontend"]["port"]
    with pytest.raises(AnsibleFilterError, match=r"frontend\.port: None is not a TCP port"):
        validate(p)
    assert real_platforms()["coreldove"]["services"]["saleor-worker"].get("port") is None


def test_unknown_override_keys_and_services_are_errors():
    with pytest.raises(AnsibleFilterError, match=r"bizosaas_platform_overrides\.bizoholic\.cms: platform bizoholic"):
        validate(real_platforms(), overrides={"bizoholic": {"cms": {"replicas": 2}}})
    with pytest.raises(AnsibleFilterError, match=r"volumes cannot be overridden"):
        validate(real_platforms(), overrides={"bizoholic": {"*": {"volumes": []}}})


@pytest.fixture
def http_server():
    codes = {"/ok": 200, "/down": 503}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(codes.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def test_the_default_health_check_needs_no_curl(http_server, tmp_path):
    """Run the check as Docker would (sh -c), with a PATH holding python3 only: 2xx healthy, 503 not."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").symlink_to(os.path.realpath(sys.executable))
    env = {"PATH": str(tmp_path / "bin")}
    sh = shutil.which("sh")
    for path, rc in (("/ok", 0), ("/down", 1)):
        kind, script = default_health_command(http_server, path)
        assert kind == "CMD-SHELL" and "$" not in script
        proc = subprocess.run([sh, "-c", script], env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == rc, proc.stderr
    proc = subprocess.run([sh, "-c", default_health_command(http_server, "/ok")[1]], env={"PATH": "/nonexistent"},
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "give the service a healthcheck command" in proc.stderr


# ---- the stack file ------------------------------------------------------------------------------
def test_the_stack_file_runs_wagtail_through_the_shim_with_its_volume():
    stack = render_stack("bizoholic", "bizosaas-bizoholic-edge", image_configs={WAGTAIL: WAGTAIL_CONFIG})
    svc = stack["services"]["wagtail-cms"]
    assert svc["entrypoint"] == ["/bin/sh", SHIM_TARGET] and svc["command"] == WAGTAIL_CONFIG["cmd"]
    assert svc["configs"] == [{"source": "bizoholic_env-shim_x", "target": SHIM_TARGET, "mode": 0o444}]
    assert svc["volumes"] == [{"type": "volume", "source": "bizoholic_wagtail-cms_media", "target": "/app/media"}]
    assert svc["deploy"]["placement"] == {"constraints": ["node.role == manager"]}
    assert svc["deploy"]["labels"]["org.bizosaas.migrate"]
    media = "bizoholic_wagtail-cms_media"
    assert stack["volumes"] == {media: {"external": True, "name": media}}
    assert stack["configs"] == {"bizoholic_env-shim_x": {"external": True, "name": "bizoholic_env-shim_x"}}
    assert "entrypoint" not in stack["services"]["frontend"] and "volumes" not in stack["services"]["frontend"]


def test_every_service_drops_all_capabilities_and_adds_back_only_what_it_names():
    stack = render_stack("coreldove", "bizosaas-coreldove-edge")
    assert all(svc["cap_drop"] == ["ALL"] for svc in stack["services"].values())
    assert stack["services"]["saleor-dashboard"]["cap_add"] == ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]
    assert "cap_add" not in stack["services"]["saleor-backend"]


@pytest.mark.parametrize(("caps", "message"), [
    ("NET_BIND_SERVICE", r"saleor-dashboard\.cap_add: expected a list of capability names"),
    (["ALL"], r"'ALL' is not one capability name"),
    (["net bind"], r"'net bind' is not one capability name"),
    (["CAP_SYS_ADMIN"], r"SYS_ADMIN is root on the host"),
])
def test_bad_cap_add_names_the_service(caps, message):
    p = real_platforms()
    p["coreldove"]["services"]["saleor-dashboard"]["cap_add"] = caps
    with pytest.raises(AnsibleFilterError, match=message):
        validate(p, secrets=SECRETS)


def test_cap_add_accepts_the_cap_prefix_and_dedupes():
    p = real_platforms()
    p["coreldove"]["services"]["saleor-dashboard"]["cap_add"] = ["cap_chown", "CHOWN", "net_bind_service"]
    services = platform_services(p["coreldove"], "coreldove", {**CTX, "edge_network": "e", "private_network": "p"})
    assert services["saleor-dashboard"]["cap_add"] == ["CHOWN", "NET_BIND_SERVICE"]


def test_the_stack_file_escapes_dollars_for_the_compose_format():
    stack = render_stack("coreldove", "bizosaas-coreldove-edge")
    assert stack["services"]["saleor-worker"]["healthcheck"]["test"][-1].endswith("celery@$$HOSTNAME --timeout 10")
    assert "ports" not in stack["services"]["saleor-worker"]


# ---- the env shim, run by real shells -----------------------------------------------------------
NASTY = "biz'o\"ho\\lic @:/%#? ö $(x) `y`"


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_the_shim_builds_urls_and_secrets_and_execs_the_command(shell, tmp_path):
    (tmp_path / "pg").write_text(NASTY + "\n")
    (tmp_path / "rd").write_text("r p:@")
    (tmp_path / "secret_key").write_text("line one\nline two $HOME\n")
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "BIZOSAAS_SECRETS_DIR": str(tmp_path),
           "PGUSER": "bizo holic", "PGHOST": "pg", "PGPORT": "5432", "PGDATABASE": "db",
           "PGPASSWORD_FILE": str(tmp_path / "pg"), "REDIS_USER": "bizoholic", "REDIS_HOST": "redis",
           "REDIS_PORT": "6379", "REDIS_PASSWORD_FILE": str(tmp_path / "rd"),
           "BIZOSAAS_ENV_FROM_SECRETS": "DATABASE_URL=postgres_url REDIS_URL=redis_url SECRET_KEY=secret:secret_key"}
    show = "import json, os, sys; print(json.dumps({'env': dict(os.environ), 'argv': sys.argv[1:]}))"
    proc = subprocess.run([shell, str(SHIM), "python3", "-c", show, "--", "a b", "*"], env=env, capture_output=True,
                          text=True, check=True)
    out = json.loads(proc.stdout)
    db = urllib.parse.urlsplit(out["env"]["DATABASE_URL"])
    assert urllib.parse.unquote(db.password) == NASTY and urllib.parse.unquote(db.username) == "bizo holic"
    assert (db.hostname, db.port, db.path) == ("pg", 5432, "/db")
    rd = urllib.parse.urlsplit(out["env"]["REDIS_URL"])
    assert urllib.parse.unquote(rd.password) == "r p:@" and rd.path == "/0"
    assert out["env"]["SECRET_KEY"] == "line one\nline two $HOME"
    assert out["argv"] == ["--", "a b", "*"], "the command's arguments pass untouched"
    assert out["env"]["LC_ALL"] == "C.UTF-8", "the locale the shim uses for encoding does not leak"
    assert not [k for k in out["env"] if k.startswith("bz_")]
    assert NASTY not in proc.stderr


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_the_shim_fails_naming_the_variable_when_a_secret_is_missing(shell, tmp_path):
    env = {"PATH": os.environ["PATH"], "BIZOSAAS_SECRETS_DIR": str(tmp_path),
           "BIZOSAAS_ENV_FROM_SECRETS": "SECRET_KEY=secret:secret_key"}
    proc = subprocess.run([shell, str(SHIM), "true"], env=env, capture_output=True, text=True)
    assert proc.returncode == 64 and "SECRET_KEY" in proc.stderr and "secret_key is missing" in proc.stderr
    proc = subprocess.run([shell, str(SHIM), "true"], env={**env, "BIZOSAAS_ENV_FROM_SECRETS": "X=postgres_url"},
                          capture_output=True, text=True)
    assert proc.returncode == 64 and "X needs PGUSER" in proc.stderr
    proc = subprocess.run([shell, str(SHIM)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert proc.returncode == 64 and "no command" in proc.stderr


# ---- the migration job's command line ------------------------------------------------------------
def load_migrate():
    spec = importlib.util.spec_from_file_location("migrate", ROOT / "roles/platform_stack/files/migrate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_job_is_a_replicated_job_with_names_not_values():
    mig = load_migrate()
    services = platform_services(real_platforms()["bizoholic"], "bizoholic", BIZ_CTX)
    (job,) = migration_jobs(services, "bizoholic", "bizoholic")
    argv = mig.create_args(job, "bizoholic-migrate-wagtail-cms-1", WAGTAIL + "@sha256:" + "a" * 64)
    joined = " ".join(argv)
    assert argv[:2] == ["service", "create"] and "--mode replicated-job" in joined
    assert "--restart-condition none" in joined
    assert "--secret source=biz_sk,target=secret_key,mode=0444" in joined
    assert f"--config source=bizoholic_env-shim_abc,target={SHIM_TARGET},mode=0444" in joined
    assert "--network bizosaas-bizoholic" in joined and "edge" not in joined
    assert f"--entrypoint /bin/sh {SHIM_TARGET}" in joined
    assert argv[-5:] == [WAGTAIL + "@sha256:" + "a" * 64, "python", "manage.py", "migrate", "--noinput"]
    assert "--label org.bizosaas.job=migrate" in joined and "--cap-drop ALL" in joined and "--cap-add" not in joined
    assert mig.split_ref("r/x:1@sha256:ab") == ("r/x:1", "sha256:ab")


def test_history_lines_show_the_migrations():
    line = history_line({"time": "T", "platform": "bizoholic", "result": "migration_failed",
                         "images": {"wagtail-cms": "r/wagtail-cms:2@sha256:ab"},
                         "migrations": [{"service": "wagtail-cms", "result": "failed", "seconds": 12.5}]})
    assert "migration_failed" in line and "[migrate wagtail-cms failed 12.5s]" in line
