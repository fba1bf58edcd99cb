"""Unit tests for the dokploy_* modules, run the way Ansible runs them (module args, main(), JSON on
stdout) against the fake Dokploy in dokploy_fake.py."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.bizosaas.ops.plugins.module_utils import dokploy_api as api
from ansible_collections.bizosaas.ops.plugins.modules import (
    dokploy_compose,
    dokploy_info,
    dokploy_owner,
    dokploy_project,
)

from tests.unit.dokploy_fake import FakeDokploy

STACK = """\
version: "3.8"
services:
  web:
    image: 172.28.0.1:5000/bizosaas-kit/probe:1.0.0
    deploy:
      replicas: 1
"""
STACK_V2 = STACK.replace("replicas: 1", "replicas: 2")


@pytest.fixture
def dokploy():
    with FakeDokploy() as fake:
        yield fake


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(api, "RETRY_INTERVAL", 0.0)
    monkeypatch.setattr(dokploy_compose, "POLL_INTERVAL", 0.0)


@pytest.fixture
def key_file(tmp_path, dokploy) -> str:
    path = tmp_path / "api-key"
    path.write_text(dokploy.add_key() + "\n")
    return str(path)


def run(module: Any, args: dict, capsys, check: bool = False, diff: bool = False) -> dict:
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        module.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exc.value.code
    return result


@pytest.fixture
def call(dokploy, key_file, capsys):
    """call(module, check=..., diff=..., **options) with api_url and api_key_file filled in."""

    def _call(module: Any, check: bool = False, diff: bool = False, **options: Any) -> dict:
        args = {"api_url": dokploy.url, "api_key_file": key_file, "startup_wait": 0, **options}
        return run(module, args, capsys, check=check, diff=diff)

    return _call


def compose_args(**kw: Any) -> dict:
    return {"project": "coreldove", "name": "coreldove", "app_name": "coreldove", "compose_file": STACK, **kw}


# -- dokploy_project --------------------------------------------------------------------------------


def test_project_create_returns_the_project_and_its_production_environment(call, dokploy):
    result = call(dokploy_project, name="coreldove", description="CoreLDove")
    assert result["changed"] is True
    project = dokploy.state.projects[0]
    env = dokploy.state.environments[0]
    assert result["project_id"] == project["projectId"]
    assert result["environment_id"] == env["environmentId"] and env["name"] == "production"
    assert project["description"] == "CoreLDove"
    assert dokploy.mutations() == [("POST", "project.create")]


def test_project_second_run_changes_nothing(call, dokploy):
    first = call(dokploy_project, name="coreldove", description="CoreLDove")
    dokploy.clear()
    second = call(dokploy_project, name="coreldove", description="CoreLDove")
    assert second["changed"] is False
    assert (second["project_id"], second["environment_id"]) == (first["project_id"], first["environment_id"])
    assert dokploy.mutations() == []
    assert dokploy.calls() == ["GET project.all"]


def test_project_check_mode_reports_and_sends_nothing_that_changes(call, dokploy):
    result = call(dokploy_project, check=True, diff=True, name="coreldove", description="CoreLDove")
    assert result["changed"] is True and result["project_id"] is None
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["environments"] == ["production"]
    assert dokploy.mutations() == [] and dokploy.state.projects == []


def test_project_description_change_is_an_update_with_a_diff(call, dokploy):
    call(dokploy_project, name="coreldove", description="old")
    dokploy.clear()
    result = call(dokploy_project, diff=True, name="coreldove", description="new")
    assert result["changed"] is True
    assert result["diff"]["before"]["description"] == "old" and result["diff"]["after"]["description"] == "new"
    assert dokploy.mutations() == [("POST", "project.update")]
    assert dokploy.state.projects[0]["description"] == "new"


def test_project_other_environment_is_created_once(call, dokploy):
    first = call(dokploy_project, name="coreldove", environment="staging")
    assert dokploy.mutations() == [("POST", "project.create"), ("POST", "environment.create")]
    staging = next(e for e in dokploy.state.environments if e["name"] == "staging")
    assert first["environment_id"] == staging["environmentId"]
    dokploy.clear()
    assert call(dokploy_project, name="coreldove", environment="staging")["changed"] is False
    assert dokploy.mutations() == []


def test_project_without_production_is_a_clear_error(call, dokploy):
    call(dokploy_project, name="coreldove")
    dokploy.state.environments.clear()
    result = call(dokploy_project, name="coreldove")
    assert result["failed"] is True
    assert "refuses to create one by that name" in result["msg"]


def test_project_absent_refuses_while_it_holds_services(call, dokploy):
    call(dokploy_project, name="coreldove")
    call(dokploy_compose, **compose_args(deploy="never"))
    refused = call(dokploy_project, name="coreldove", state="absent")
    assert refused["failed"] is True and "1 compose" in refused["msg"] and "force: true" in refused["msg"]
    assert dokploy.state.projects
    forced = call(dokploy_project, name="coreldove", state="absent", force=True)
    assert forced["changed"] is True and dokploy.state.projects == []
    assert call(dokploy_project, name="coreldove", state="absent")["changed"] is False


def test_two_projects_with_the_same_name_are_an_error(call, dokploy):
    call(dokploy_project, name="coreldove")
    dokploy.state.projects.append({**dokploy.state.projects[0], "projectId": "dup"})
    result = call(dokploy_project, name="coreldove")
    assert result["failed"] is True and "identify objects by name" in result["msg"]


# -- dokploy_compose --------------------------------------------------------------------------------


@pytest.fixture
def project(call, dokploy):
    created = call(dokploy_project, name="coreldove")
    dokploy.clear()
    return created


def test_compose_create_pins_the_stack_name_deploys_and_returns_the_webhook(call, dokploy, project):
    result = call(dokploy_compose, **compose_args())
    assert result["changed"] is True and result["deployed"] is True
    c = dokploy.compose("coreldove")
    assert result["compose_id"] == c["composeId"]
    assert c["appName"].startswith("coreldove-") and result["dokploy_app_name"] == c["appName"]
    assert c["command"] == "stack deploy -c docker-compose.yml coreldove --prune --with-registry-auth"
    assert (c["composeType"], c["sourceType"], c["composeFile"]) == ("stack", "raw", STACK)
    assert result["stack_name"] == "coreldove"
    assert result["deployment"]["status"] == "done" and result["compose_status"] == "done"
    assert result["webhook"]["path"] == f"/api/deploy/compose/{c['refreshToken']}"
    assert result["webhook"]["url"] == dokploy.url + result["webhook"]["path"]
    assert c["refreshToken"] not in result["msg"]
    assert dokploy.mutations() == [
        ("POST", "compose.create"),
        ("POST", "compose.update"),
        ("POST", "compose.deploy"),
    ]


def test_compose_unchanged_second_run_neither_updates_nor_deploys(call, dokploy, project):
    call(dokploy_compose, **compose_args())
    dokploy.clear()
    result = call(dokploy_compose, **compose_args())
    assert result["changed"] is False and result["deployed"] is False and result["updated"] == []
    assert dokploy.mutations() == []


def test_compose_check_mode_sends_nothing_that_changes(call, dokploy, project):
    created = call(dokploy_compose, check=True, **compose_args())
    assert created["changed"] is True and created["compose_id"] is None and created["deployed"] is True
    assert dokploy.mutations() == [] and dokploy.state.composes == []
    call(dokploy_compose, **compose_args())
    dokploy.clear()
    changed = call(dokploy_compose, check=True, **compose_args(compose_file=STACK_V2))
    assert changed["changed"] is True and changed["updated"] == ["composeFile"] and changed["deployed"] is True
    assert dokploy.mutations() == []
    assert dokploy.compose("coreldove")["composeFile"] == STACK


def test_compose_file_change_updates_and_deploys_with_a_diff(call, dokploy, project):
    call(dokploy_compose, **compose_args())
    dokploy.clear()
    result = call(dokploy_compose, diff=True, **compose_args(compose_file=STACK_V2))
    assert result["changed"] is True and result["updated"] == ["composeFile"]
    assert dokploy.mutations() == [("POST", "compose.update"), ("POST", "compose.deploy")]
    update = next(b for m, p, b in dokploy.state.requests if p == "compose.update")
    assert set(update) == {"composeId", "composeFile"}
    assert "replicas: 1" in result["diff"]["before"] and "replicas: 2" in result["diff"]["after"]
    assert "stack_name: coreldove" in result["diff"]["after"]
    assert len([d for d in dokploy.state.deployments if d["status"] == "done"]) == 2


def test_compose_deploy_always_deploys_an_unchanged_compose(call, dokploy, project):
    call(dokploy_compose, **compose_args())
    dokploy.clear()
    result = call(dokploy_compose, **compose_args(deploy="always"))
    assert result["changed"] is True and result["updated"] == []
    assert dokploy.mutations() == [("POST", "compose.deploy")]
    assert result["deployment"]["status"] == "done"


def test_compose_deploy_never_only_stores_it(call, dokploy, project):
    result = call(dokploy_compose, **compose_args(deploy="never"))
    assert result["changed"] is True and result["deployed"] is False and "deployment" not in result
    assert ("POST", "compose.deploy") not in dokploy.mutations()


def test_compose_never_deployed_is_deployed_by_the_next_changed_run(call, dokploy, project):
    call(dokploy_compose, **compose_args(deploy="never"))
    dokploy.clear()
    result = call(dokploy_compose, **compose_args())
    assert result["deployed"] is True and "composeStatus idle" in result["msg"]


def test_compose_deploy_waits_for_the_deployment_to_finish(call, dokploy, project):
    dokploy.state.deploy_polls = 4
    result = call(dokploy_compose, **compose_args())
    assert result["deployment"]["status"] == "done"
    assert dokploy.calls().count("GET deployment.allByCompose") >= 4


def test_compose_deploy_without_wait_returns_the_running_deployment(call, dokploy, project):
    dokploy.state.deploy_polls = 100
    result = call(dokploy_compose, **compose_args(wait=False))
    assert result["deployed"] is True and result["deployment"]["status"] == "running"


def test_compose_failed_deployment_fails_the_task_with_dokploys_error(call, dokploy, project):
    dokploy.state.deploy_outcome = "error"
    result = call(dokploy_compose, **compose_args())
    assert result["failed"] is True
    assert "ended with status error" in result["msg"] and "Docker command failed" in result["msg"]


def test_compose_deploy_timeout_is_bounded(call, dokploy, project):
    dokploy.state.deploy_polls = 10**6
    result = call(dokploy_compose, **compose_args(wait_timeout=0))
    assert result["failed"] is True and "within 0s" in result["msg"] and "still running" in result["msg"]


def test_compose_half_created_is_completed_by_a_rerun(call, dokploy, project):
    dokploy.state.failures["POST compose.update"] = [(500, {"message": "boom"})]
    failed = call(dokploy_compose, **compose_args())
    assert failed["failed"] is True and "POST /api/compose.update" in failed["msg"]
    assert dokploy.compose("coreldove")["command"] == ""
    result = call(dokploy_compose, **compose_args())
    assert result["updated"] == ["command"] and result["deployed"] is True
    assert dokploy.compose("coreldove")["command"].startswith("stack deploy")
    assert len(dokploy.state.composes) == 1


def test_compose_env_values_never_show(call, dokploy, project):
    call(dokploy_compose, **compose_args(env={"TOKEN": "s3cr3t-value"}))
    assert dokploy.compose("coreldove")["env"] == "TOKEN=s3cr3t-value"
    result = call(dokploy_compose, diff=True, **compose_args(env={"TOKEN": "an0ther-value"}))
    assert result["updated"] == ["env"] and result["deployed"] is True
    text = json.dumps(result)
    assert "s3cr3t-value" not in text and "an0ther-value" not in text
    assert "env: TOKEN (values not shown)" in result["diff"]["after"]


def test_compose_stack_owned_by_another_project_is_an_error(call, dokploy, project):
    call(dokploy_compose, **compose_args(deploy="never"))
    call(dokploy_project, name="other")
    result = call(dokploy_compose, **compose_args(project="other", deploy="never"))
    assert result["failed"] is True
    assert "already deployed by Dokploy compose 'coreldove'" in result["msg"] and "'coreldove'" in result["msg"]
    assert len(dokploy.state.composes) == 1


def test_compose_in_a_missing_project_is_a_clear_error(call, dokploy):
    result = call(dokploy_compose, **compose_args(project="nope"))
    assert result["failed"] is True and "no project 'nope'" in result["msg"] and "dokploy_project" in result["msg"]


def test_compose_bad_app_name_fails_before_any_request(call, dokploy):
    result = call(dokploy_compose, **compose_args(app_name="Bad Name"))
    assert result["failed"] is True and "not a valid stack name" in result["msg"]
    assert dokploy.state.requests == []


def test_compose_changing_app_name_warns_about_the_old_stack(call, dokploy, project, monkeypatch):
    warned: list[str] = []
    # module.warn goes to the result, or to the controller's display once controller code is imported
    monkeypatch.setattr(dokploy_compose.AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    call(dokploy_compose, **compose_args(deploy="never"))
    result = call(dokploy_compose, **compose_args(app_name="coreldove2", deploy="never"))
    assert result["updated"] == ["command"]
    assert any("docker stack rm coreldove`" in w for w in warned)


def test_compose_docker_compose_type_pins_the_project_name(call, dokploy, project):
    call(dokploy_compose, **compose_args(compose_type="docker-compose", deploy="never"))
    assert dokploy.compose("coreldove")["command"] == (
        "compose -p coreldove -f docker-compose.yml up -d --build --remove-orphans"
    )


def test_compose_webhook_post_creates_a_deployment(call, dokploy, project):
    import urllib.request

    result = call(dokploy_compose, **compose_args())
    before = len(dokploy.state.deployments)
    req = urllib.request.Request(result["webhook"]["url"], data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["message"] == "Compose deployed successfully"
    assert len(dokploy.state.deployments) == before + 1


# -- dokploy_info -----------------------------------------------------------------------------------


def test_info_lists_projects_composes_and_deployments_without_secrets(call, dokploy, project):
    call(dokploy_compose, **compose_args())
    dokploy.clear()
    result = call(dokploy_info)
    assert result["changed"] is False and "webhooks" not in result
    (proj,) = result["projects"]
    (env,) = proj["environments"]
    (comp,) = env["composes"]
    assert (proj["name"], env["name"], env["services"]) == ("coreldove", "production", 1)
    assert comp["stack_name"] == "coreldove" and comp["compose_type"] == "stack"
    assert comp["compose_status"] == "done" and comp["deployments"][0]["status"] == "done"
    assert dokploy.compose("coreldove")["refreshToken"] not in json.dumps(result)
    assert dokploy.mutations() == []


def test_info_include_webhooks(call, dokploy, project):
    call(dokploy_compose, **compose_args(deploy="never"))
    result = call(dokploy_info, include_webhooks=True, check=True)
    (hook,) = result["webhooks"]
    assert hook["path"] == "/api/deploy/compose/" + dokploy.compose("coreldove")["refreshToken"]
    assert (hook["project"], hook["compose"], hook["stack_name"]) == ("coreldove", "coreldove", "coreldove")


def test_info_project_filter(call, dokploy, project):
    call(dokploy_project, name="other")
    assert [p["name"] for p in call(dokploy_info, project="other")["projects"]] == ["other"]


# -- errors through a module -----------------------------------------------------------------------


def test_module_wrong_key_fails_with_the_clear_401(dokploy, tmp_path, capsys):
    key_path = tmp_path / "api-key"
    key_path.write_text("dkp_wrong_key_value\n")
    result = run(dokploy_info, {"api_url": dokploy.url, "api_key_file": str(key_path)}, capsys)
    assert result["failed"] is True and result["status"] == 401
    assert "GET /api/project.all" in result["msg"] and str(key_path) in result["msg"]
    assert "dkp_wrong_key_value" not in json.dumps(result)


def test_module_connection_refused(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(dokploy_info, {"api_url": f"http://127.0.0.1:{port}", "api_key": "dkp_x", "startup_wait": 0}, capsys)
    assert result["failed"] is True and "connection refused" in result["msg"]


def test_module_server_error_names_the_endpoint(call, dokploy):
    dokploy.state.failures["POST project.create"] = (500, {"message": "database is down"})
    result = call(dokploy_project, name="coreldove")
    assert result["failed"] is True and result["status"] == 500
    assert "POST /api/project.create" in result["msg"] and "database is down" in result["msg"]


# -- dokploy_owner ----------------------------------------------------------------------------------

OWNER = {"email": "owner@example.test", "password": "correct-horse", "name": "Ops"}


@pytest.fixture
def owner(dokploy, tmp_path, capsys):
    path = tmp_path / "dokploy" / "api-key"

    def _owner(check: bool = False, **kw: Any) -> dict:
        args = {"api_url": dokploy.url, "api_key_file": str(path), "startup_wait": 0, **OWNER, **kw}
        return run(dokploy_owner, args, capsys, check=check)

    _owner.path = path  # type: ignore[attr-defined]
    return _owner


def test_owner_first_boot_signs_up_and_writes_an_unlimited_key(owner, dokploy):
    result = owner()
    assert result["changed"] is True and result["owner_created"] is True and result["key_created"] is True
    assert dokploy.state.users[0]["email"] == OWNER["email"]
    key = owner.path.read_text().strip()
    assert oct(owner.path.stat().st_mode & 0o777) == "0o600"
    (row,) = dokploy.state.keys
    assert row["key"] == key and row["rateLimitEnabled"] is False and row["name"] == "bizosaas-ops"
    assert row["organizationId"] == dokploy.state.organization["id"] == result["organization_id"]
    create = next(b for m, p, b in dokploy.state.requests if p == "user.createApiKey")
    assert create == {
        "name": "bizosaas-ops",
        "metadata": {"organizationId": dokploy.state.organization["id"]},
        "rateLimitEnabled": False,
    }
    out = json.dumps(result)
    assert key not in out and OWNER["password"] not in out


def test_owner_rerun_with_a_working_key_only_checks_it(owner, dokploy):
    owner()
    dokploy.clear()
    result = owner()
    assert result["changed"] is False and result["key_created"] is False
    assert dokploy.calls() == ["GET user.get"]


def test_owner_stale_key_signs_in_and_replaces_it(owner, dokploy):
    owner()
    old = owner.path.read_text().strip()
    dokploy.state.keys[0]["enabled"] = False  # revoked in the UI
    dokploy.clear()
    result = owner()
    assert result["changed"] is True and result["owner_created"] is False and result["key_created"] is True
    assert result["replaced_keys"] == 1
    new = owner.path.read_text().strip()
    assert new != old and [k["key"] for k in dokploy.state.keys] == [new]
    assert ("POST", "auth/sign-in/email") in dokploy.mutations()
    assert ("POST", "auth/sign-up/email") not in dokploy.mutations()


def test_owner_exists_without_key_file_signs_in(owner, dokploy):
    dokploy.seed_owner(OWNER["email"], OWNER["password"])
    result = owner()
    assert result["owner_created"] is False and result["key_created"] is True
    assert owner.path.exists()


def test_owner_wrong_password_is_a_clear_error(owner, dokploy):
    dokploy.seed_owner(OWNER["email"], "another-password")
    result = owner()
    assert result["failed"] is True
    assert "signing in with the vault's owner email and password failed" in result["msg"]
    assert "Invalid email or password" in result["msg"]
    assert OWNER["password"] not in json.dumps(result)
    assert not owner.path.exists()


def test_owner_check_mode_writes_and_signs_up_nothing(owner, dokploy):
    result = owner(check=True)
    assert result["changed"] is True and result["owner_created"] is True
    assert "would sign up the owner" in result["msg"]
    assert dokploy.mutations() == [] and dokploy.state.users == []
    assert not owner.path.exists()


def test_owner_a_second_sign_up_is_refused_by_dokploy(owner, dokploy, monkeypatch):
    """If someone registers between the check and the sign-up, the module fails loudly."""
    monkeypatch.setattr(dokploy_owner, "owner_exists", lambda client: False)
    dokploy.seed_owner("intruder@example.test", "whatever-pass")
    result = owner()
    assert result["failed"] is True
    assert "Admin is already created" in result["msg"] and "someone registered" in result["msg"]


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"password": "short"}, "8 to 128 characters"),
        ({"email": "not-an-email"}, "email must be an email address"),
        ({"key_name": "x" * 33}, "1 to 32 characters"),
    ],
)
def test_owner_bad_input_fails_before_any_request(owner, dokploy, override, error):
    result = owner(**override)
    assert result["failed"] is True and error in result["msg"]
    assert dokploy.state.requests == []


def test_owner_key_file_is_written_through_the_module_0600(owner, dokploy):
    owner()
    assert oct(os.stat(owner.path.parent).st_mode & 0o777) == "0o700"


# -- documentation agrees with the argument spec (what ansible-test validate-modules checks) ----------


class _SpecSeen(Exception):
    pass


@pytest.mark.parametrize("module", [dokploy_project, dokploy_compose, dokploy_info, dokploy_owner])
def test_documentation_matches_the_argument_spec(module, monkeypatch):
    import yaml
    from ansible_collections.bizosaas.ops.plugins.doc_fragments.dokploy import ModuleDocFragment

    seen: dict = {}

    def capture(argument_spec, **kw):
        seen.update(spec=argument_spec, kw=kw)
        raise _SpecSeen

    monkeypatch.setattr(module, "AnsibleModule", capture)
    with pytest.raises(_SpecSeen):
        module.main()
    assert seen["kw"].get("supports_check_mode") is True
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc["options"])
    if "bizosaas.ops.dokploy" in doc.get("extends_documentation_fragment", []):
        options = {**yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"], **options}
    assert set(options) == set(seen["spec"]), module.__name__
    for name, spec in seen["spec"].items():
        documented = options[name]
        assert documented.get("type", "str") == spec.get("type", "str"), name
        assert documented.get("default") == spec.get("default"), name
        assert bool(documented.get("required")) == bool(spec.get("required")), name
        assert documented.get("choices") == spec.get("choices"), name
    for secret in ("api_key", "password", "env"):
        if secret in seen["spec"]:
            assert seen["spec"][secret].get("no_log") is True, secret
    assert {"check_mode", "diff_mode", "idempotent"} <= set(doc["attributes"])
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)


def test_owner_sign_up_that_times_out_but_created_the_owner_signs_in(owner, dokploy, monkeypatch):
    """Dokploy answers the first sign-up after a public-IP lookup (a minute offline); a timeout is not a failure
    when the owner exists afterwards."""
    monkeypatch.setattr(dokploy_owner, "SIGN_UP_TIMEOUT", 1)
    real_route = dokploy.route

    def slow_sign_up(method, path, query, body, headers):
        answer = real_route(method, path, query, body, headers)
        if path == "/api/auth/sign-up/email":
            time.sleep(1.5)
        return answer

    monkeypatch.setattr(dokploy, "route", slow_sign_up)
    result = owner(timeout=1)
    assert result.get("failed") is not True, result.get("msg")
    assert result["owner_created"] is True and result["key_created"] is True
    assert ("POST", "auth/sign-in/email") in dokploy.mutations()
