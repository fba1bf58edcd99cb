"""Live: the bizosaas.ops.dokploy_* modules against the real Dokploy v0.30.2 built by the image kit.

The host's Docker is not a Swarm manager and must not become one, so everything runs in a throwaway
nested-Docker VPS container (`dkapi-live`): its own daemon becomes a single-node Swarm, pulls the kit's
Postgres and probe images from the kit registry, and runs Dokploy as a container with the Docker socket.
The modules run the way the dokploy role will run them: Ansible on the controller, the
community.docker.docker connection into the VPS, Dokploy called at http://127.0.0.1:3000 from there.

Proves: owner bootstrap (and sign-up closed afterwards), an API key without rate limit, project and
compose idempotent (a second run and --check report changed=0), a compose deploy of a tiny stack produces
the Swarm service under the exact stack name, a POST to the webhook creates a new deployment, a wrong key
gives the clear 401 error, and a stale key is replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.harness import vps
from tests.kit.kitlib import ROOT, docker, kit_ref

IMAGE = "bizosaas-kit/dokploy:v0.30.2"
SPEC = yaml.safe_load((ROOT / "molecule/_shared/vps_container.yml").read_text())
REGISTRY = SPEC["bizosaas_vps_registry"]  # the kit registry, seen from the test network
NAME = "dkapi-live"
KEY_FILE = "/var/lib/bizosaas-ops/dokploy/api-key"
OWNER = {"email": "owner@bizosaas.test", "password": "live-test-owner-pw-1", "name": "Ops"}
ANSIBLE = str(Path(sys.executable).parent / "ansible")


def stack_file(version: str = "1") -> str:
    return f"""\
version: "3.8"
services:
  web:
    image: {REGISTRY}/bizosaas-kit/probe:1.0.0
    environment:
      SERVICE_NAME: web
      PLATFORM: livetest
      APP_VERSION: "{version}"
    deploy:
      replicas: 1
      endpoint_mode: dnsrr
"""


@dataclass
class Live:
    host: vps.Vps
    inventory: Path

    def sh(self, script: str, check: bool = True, timeout: float = 300) -> str:
        proc = subprocess.run(
            ["docker", "exec", self.host.name, "sh", "-c", script], text=True, capture_output=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"in {self.host.name}: {script}\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def http(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> tuple[int, str]:
        """A request from inside the VPS (Dokploy listens on its loopback)."""
        code = (
            "import json,sys,urllib.request,urllib.error\n"
            "m,p,b,k=sys.argv[1:5]\n"
            "h={'Content-Type':'application/json'}\n"
            "if k: h['x-api-key']=k\n"
            "r=urllib.request.Request('http://127.0.0.1:3000'+p,data=b.encode() if b else None,headers=h,method=m)\n"
            "try:\n r=urllib.request.urlopen(r,timeout=30); print(r.status); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())\n"
        )
        proc = subprocess.run(
            ["docker", "exec", self.host.name, "python3", "-c", code, method, path,
             json.dumps(body) if body is not None else "", key or ""],
            text=True, capture_output=True, timeout=60,
        )  # fmt: skip
        status, _, text = proc.stdout.partition("\n")
        return int(status or 0), text

    def module(self, name: str, args: dict, check: bool = False, diff: bool = False) -> dict:
        """Run bizosaas.ops.<name> through Ansible (ad hoc, JSON callback) and return the host's result."""
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json",  # not profile_tasks: stdout must be JSON only
            ANSIBLE_NOCOLOR="1",
        )
        cmd = [ANSIBLE, "-i", str(self.inventory), "all", "-m", f"bizosaas.ops.{name}"]
        cmd += ["-a", json.dumps(args)] if args else []  # "{}" would be taken as raw params
        cmd += ["--check"] if check else []
        cmd += ["--diff"] if diff else []
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=900)
        try:
            data = json.loads(proc.stdout)
            return data["plays"][0]["tasks"][0]["hosts"][self.host.name]
        except (ValueError, KeyError, IndexError) as exc:
            raise AssertionError(
                f"ansible {name} gave no JSON result ({exc}):\n{proc.stdout[-3000:]}{proc.stderr}"
            ) from None


def _wait(what: str, probe, timeout: float, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except Exception as exc:  # a probe that raises is "not yet"
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def _load_dokploy(host: vps.Vps) -> str:
    """The Dokploy image inside the VPS: from the kit registry when it is there, else docker save | load."""
    ref = f"{REGISTRY}/dokploy/dokploy:v0.30.2"
    if host.exec("docker", "pull", "-q", ref).returncode == 0:
        return ref
    save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
    load = subprocess.run(
        ["docker", "exec", "-i", host.name, "docker", "load"], stdin=save.stdout, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    save.wait(timeout=60)
    assert load.returncode == 0 and save.returncode == 0, load.stdout + load.stderr
    return IMAGE


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.skip(f"{IMAGE} is not built (the image kit's dokploy recipe builds it)")
    host = vps.start(NAME, image=kit_ref("vps-docker:bookworm"), nested_docker=True)
    try:
        daemon = json.dumps({"insecure-registries": [REGISTRY]})
        host.exec("sh", "-c", f"mkdir -p /etc/docker && echo '{daemon}' > /etc/docker/daemon.json", check=True)
        host.exec("systemctl", "start", "docker", check=True)
        host.exec("docker", "swarm", "init", "--advertise-addr", host.ip, check=True)
        for ref in (f"{REGISTRY}/pgvector/pgvector:pg17", f"{REGISTRY}/bizosaas-kit/probe:1.0.0"):
            pulled = host.exec("docker", "pull", "-q", ref)
            assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        image = _load_dokploy(host)
        inv = tmp_path_factory.mktemp("dkapi") / "hosts.yml"
        lv = Live(host, host.inventory(inv, shared=False))
        lv.sh(
            "docker network create dkapi-net >/dev/null && "
            "docker run -d --name dkapi-postgres --network dkapi-net -e POSTGRES_USER=dokploy "
            f"-e POSTGRES_DB=dokploy -e POSTGRES_PASSWORD=dkapi-pg-pw {REGISTRY}/pgvector/pgvector:pg17 >/dev/null && "
            "docker run -d --name dkapi-dokploy --network dkapi-net -p 127.0.0.1:3000:3000 "
            "-v /var/run/docker.sock:/var/run/docker.sock -v /etc/dokploy:/etc/dokploy "
            "-e DATABASE_URL=postgres://dokploy:dkapi-pg-pw@dkapi-postgres:5432/dokploy "
            f"-e BETTER_AUTH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n') {image} >/dev/null"
        )
        try:
            _wait("Dokploy's /api/health", lambda: lv.http("GET", "/api/health")[0] == 200, timeout=300)
        except AssertionError:
            print(lv.sh("docker logs --tail 60 dkapi-dokploy 2>&1", check=False))
            raise
        yield lv
    finally:
        vps.stop(NAME)


def _compose_args(**kw) -> dict:
    return {"project": "coreldove", "name": "coreldove", "app_name": "coreldove", "compose_file": stack_file(), **kw}


def test_owner_bootstrap_is_idempotent_and_closes_sign_up(live):
    first = live.module("dokploy_owner", OWNER)
    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True and first["owner_created"] is True and first["key_created"] is True
    assert live.sh(f"stat -c %a {KEY_FILE}").strip() == "600"
    assert live.sh(f"stat -c %a {os.path.dirname(KEY_FILE)}").strip() == "700"
    again = live.module("dokploy_owner", OWNER)
    assert again["changed"] is False and again["key_created"] is False, again.get("msg")
    # Dokploy refuses a second owner: databaseHooks.user.create.before, "Admin is already created".
    status, text = live.http(
        "POST", "/api/auth/sign-up/email", {"email": "intruder@bizosaas.test", "password": "whatever-123", "name": "x"}
    )
    print(f"second sign-up: HTTP {status} {text[:200]}")
    assert status >= 400 and "Admin is already created" in text
    # Rate limiting is off: far more than the default 10 requests a day all pass.
    key = live.sh(f"cat {KEY_FILE}").strip()
    statuses = [live.http("GET", "/api/project.all", key=key)[0] for _ in range(15)]
    assert statuses == [200] * 15
    assert key not in json.dumps(first) + json.dumps(again)


def test_project_create_is_idempotent_and_check_clean(live):
    first = live.module("dokploy_project", {"name": "coreldove", "description": "CoreLDove (bizosaas-ops)"})
    assert first["changed"] is True and first["project_id"] and first["environment_id"], first.get("msg")
    again = live.module("dokploy_project", {"name": "coreldove", "description": "CoreLDove (bizosaas-ops)"})
    assert again["changed"] is False
    assert (again["project_id"], again["environment_id"]) == (first["project_id"], first["environment_id"])
    checked = live.module("dokploy_project", {"name": "coreldove", "description": "CoreLDove (bizosaas-ops)"}, True)
    assert checked["changed"] is False


def _service_running(live: Live, name: str) -> bool:
    out = live.sh("docker service ls --format '{{.Name}} {{.Replicas}}'", check=False)
    return any(line.split()[:2] == [name, "1/1"] for line in out.splitlines())


def test_compose_deploy_produces_the_stack_and_is_idempotent(live):
    first = live.module("dokploy_compose", _compose_args())
    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True and first["deployed"] is True
    assert first["deployment"]["status"] == "done", first["deployment"]
    assert first["stack_name"] == "coreldove" and first["dokploy_app_name"].startswith("coreldove-")
    print(f"dokploy appName: {first['dokploy_app_name']}; stack: {first['stack_name']}")
    assert first["webhook"]["path"].startswith("/api/deploy/compose/")
    # The stack carries the exact name, not Dokploy's appName.
    stacks = live.sh("docker stack ls --format '{{.Name}}'").split()
    assert "coreldove" in stacks and first["dokploy_app_name"] not in stacks
    _wait("the service coreldove_web at 1/1", lambda: _service_running(live, "coreldove_web"), timeout=180)
    again = live.module("dokploy_compose", _compose_args())
    assert again["changed"] is False and again["deployed"] is False, again.get("msg")
    checked = live.module("dokploy_compose", _compose_args(), check=True, diff=True)
    assert checked["changed"] is False


def test_compose_change_updates_and_redeploys(live):
    before = live.sh("docker service inspect coreldove_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'")
    checked = live.module("dokploy_compose", _compose_args(compose_file=stack_file("2")), check=True, diff=True)
    assert checked["changed"] is True and checked["updated"] == ["composeFile"]
    diff = checked["diff"][0] if isinstance(checked["diff"], list) else checked["diff"]
    assert 'APP_VERSION: "1"' in diff["before"] and 'APP_VERSION: "2"' in diff["after"]
    changed = live.module("dokploy_compose", _compose_args(compose_file=stack_file("2")))
    assert changed["changed"] is True and changed["updated"] == ["composeFile"]
    assert changed["deployment"]["status"] == "done"
    after = live.sh("docker service inspect coreldove_web --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}'")
    assert "APP_VERSION=1" in before and "APP_VERSION=2" in after


def test_webhook_post_creates_a_new_deployment(live):
    info = live.module("dokploy_info", {"include_webhooks": True, "deployments": 20})
    (hook,) = [h for h in info["webhooks"] if h["stack_name"] == "coreldove"]
    composes = [c for p in info["projects"] for e in p["environments"] for c in e["composes"]]
    (comp,) = [c for c in composes if c["name"] == "coreldove"]
    before = {d["deployment_id"] for d in comp["deployments"]}
    tasks_before = live.sh("docker service ps coreldove_web -q --filter desired-state=running").split()
    status, text = live.http("POST", hook["path"], {})
    assert status == 200 and "Compose deployed successfully" in text, text

    def new_deployment():
        now = live.module("dokploy_info", {"project": "coreldove", "deployments": 20})
        deps = now["projects"][0]["environments"][0]["composes"][0]["deployments"]
        fresh = [d for d in deps if d["deployment_id"] not in before]
        return fresh[0] if fresh and fresh[0]["status"] in ("done", "error") else None

    dep = _wait("the webhook's deployment", new_deployment, timeout=180, interval=3)
    assert dep["status"] == "done", dep
    tasks_after = live.sh("docker service ps coreldove_web -q --filter desired-state=running").split()
    # Measured, not asserted: an unchanged stack file with an unchanged image digest is a no-op for Swarm.
    print(f"webhook deployment {dep['deployment_id']}: {dep['title']!r}; tasks replaced: {tasks_before != tasks_after}")


def test_a_second_owner_of_the_stack_is_refused(live):
    live.module("dokploy_project", {"name": "dkapi-other"})
    clash = live.module("dokploy_compose", _compose_args(project="dkapi-other", deploy="never"))
    assert clash.get("failed") is True and "already deployed by Dokploy compose 'coreldove'" in clash["msg"]


def test_wrong_key_gives_the_clear_401(live):
    wrong = "dkapi" + "x" * 40
    result = live.module("dokploy_info", {"api_key": wrong})
    assert result.get("failed") is True
    assert "Dokploy refused the API key on GET /api/project.all (HTTP 401" in result["msg"]
    assert KEY_FILE in result["msg"] and wrong not in json.dumps(result)
    print(result["msg"])


def test_a_stale_key_is_replaced_by_signing_in(live):
    live.sh(f"echo dkapi-revoked-key > {KEY_FILE}")
    result = live.module("dokploy_owner", OWNER)
    assert result["changed"] is True and result["owner_created"] is False and result["key_created"] is True
    info = live.module("dokploy_info", {})
    assert info.get("projects"), info.get("msg")
    assert live.module("dokploy_owner", OWNER)["changed"] is False


def test_stopped_dokploy_is_a_clear_connection_error(live):
    live.sh("docker stop dkapi-dokploy >/dev/null")
    try:
        result = live.module("dokploy_info", {"startup_wait": 0})
        assert result.get("failed") is True and "connection refused" in result["msg"], result.get("msg")
        print(result["msg"])
    finally:
        live.sh("docker start dkapi-dokploy >/dev/null")
