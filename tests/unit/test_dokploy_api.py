"""Unit tests for module_utils/dokploy_api.py: the x-api-key client and its errors, against a fake Dokploy."""

from __future__ import annotations

import os
import socket

import pytest
from ansible_collections.bizosaas.ops.plugins.module_utils import dokploy_api as api

from tests.unit.dokploy_fake import FakeDokploy


@pytest.fixture
def dokploy():
    with FakeDokploy() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(api, "RETRY_INTERVAL", 0.0)


def client(fake: FakeDokploy, key: str | None, **kw) -> api.DokployClient:
    return api.DokployClient(url=fake.url, api_key=key, key_file="/var/lib/bizosaas-ops/dokploy/api-key", **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_get_and_post_send_the_key_and_json(dokploy):
    key = dokploy.add_key()
    c = client(dokploy, key)
    created = c.post("project.create", {"name": "coreldove", "description": "d"})
    assert created["environment"]["name"] == "production"
    projects = c.get("project.all")
    assert [p["name"] for p in projects] == ["coreldove"]
    assert c.calls == [("POST", "project.create"), ("GET", "project.all")]


def test_a_query_goes_in_the_query_string(dokploy):
    key = dokploy.add_key()
    c = client(dokploy, key)
    with pytest.raises(api.DokployError):
        c.get("compose.one", composeId="abc")
    assert dokploy.state.requests[-1] == ("GET", "compose.one", {"composeId": "abc"})


def test_401_names_the_endpoint_and_the_key_file_never_the_key(dokploy):
    dokploy.add_key()
    wrong = "dkp_" + "0" * 32
    with pytest.raises(api.DokployError) as exc:
        client(dokploy, wrong).get("project.all")
    msg = exc.value.msg
    assert exc.value.status == 401
    assert "GET /api/project.all" in msg
    assert "/var/lib/bizosaas-ops/dokploy/api-key" in msg
    assert "dokploy_owner" in msg and "rerun the role" in msg
    assert wrong not in msg


def test_a_rate_limited_key_is_refused_with_the_same_clear_error(dokploy):
    key = dokploy.add_key(rate_limited=True)
    c = client(dokploy, key)
    for _ in range(10):
        c.get("project.all")
    with pytest.raises(api.DokployError) as exc:
        c.get("project.all")
    assert "rate-limited" in exc.value.msg and "10 requests a day" in exc.value.msg


def test_404_suggests_a_version_mismatch(dokploy):
    key = dokploy.add_key()
    with pytest.raises(api.DokployError) as exc:
        client(dokploy, key).get("project.allTheThings")
    assert exc.value.status == 404
    assert "GET /api/project.allTheThings" in exc.value.msg
    assert "v0.30.2" in exc.value.msg and "dokploy_version" in exc.value.msg


def test_500_gives_dokploys_message_and_the_log_command(dokploy):
    key = dokploy.add_key()
    dokploy.state.failures["POST project.create"] = (
        500,
        {"message": "relation does not exist", "code": "INTERNAL_SERVER_ERROR"},
    )
    with pytest.raises(api.DokployError) as exc:
        client(dokploy, key).post("project.create", {"name": "x"})
    assert exc.value.status == 500
    assert "POST /api/project.create" in exc.value.msg
    assert "relation does not exist" in exc.value.msg
    assert "docker service logs" in exc.value.msg
    assert key not in exc.value.msg


def test_400_carries_the_zod_issues(dokploy):
    key = dokploy.add_key()
    with pytest.raises(api.DokployError) as exc:
        client(dokploy, key).post("compose.create", {"name": "x"})
    assert exc.value.status == 400
    assert "Input validation failed (Required)" in exc.value.msg


def test_connection_refused_says_dokploy_is_not_running():
    c = api.DokployClient(url=f"http://127.0.0.1:{free_port()}", api_key="k" * 20, startup_wait=0)
    with pytest.raises(api.DokployError) as exc:
        c.get("project.all")
    assert "connection refused" in exc.value.msg
    assert "GET /api/project.all" in exc.value.msg
    assert "docker service ps dokploy" in exc.value.msg
    assert "k" * 20 not in exc.value.msg


def test_connection_refused_is_retried_only_within_the_startup_window():
    clock = iter(range(0, 1000, 5))  # every call to the clock advances 5 s
    sleeps: list[float] = []
    c = api.DokployClient(
        url=f"http://127.0.0.1:{free_port()}",
        api_key="k",
        startup_wait=20,
        sleep=sleeps.append,
        clock=lambda: float(next(clock)),
    )
    with pytest.raises(api.DokployError) as exc:
        c.get("project.all")
    assert "retried for 20s" in exc.value.msg
    assert 1 <= len(sleeps) <= 5


def test_503_while_starting_is_retried_then_succeeds(dokploy):
    key = dokploy.add_key()
    dokploy.state.failures["GET project.all"] = [(503, "starting"), (502, "starting")]
    assert client(dokploy, key).get("project.all") == []
    assert dokploy.calls().count("GET project.all") == 3


def test_503_after_the_startup_window_fails(dokploy):
    key = dokploy.add_key()
    dokploy.state.failures["GET project.all"] = (503, {"message": "busy"})
    with pytest.raises(api.DokployError) as exc:
        client(dokploy, key, startup_wait=0).get("project.all")
    assert exc.value.status == 503 and "busy" in exc.value.msg


def test_from_params_reads_the_key_file_and_explains_a_missing_one(tmp_path):
    params = {"api_url": "http://127.0.0.1:1", "api_key": None, "api_key_file": str(tmp_path / "none"), "timeout": 5}
    with pytest.raises(api.DokployError) as exc:
        api.DokployClient.from_params(params)
    assert str(tmp_path / "none") in exc.value.msg and "dokploy_owner" in exc.value.msg
    (tmp_path / "key").write_text("dkp_secret\n")
    params["api_key_file"] = str(tmp_path / "key")
    assert api.DokployClient.from_params(params).api_key == "dkp_secret"


def test_write_key_file_is_private_and_atomic(tmp_path):
    path = tmp_path / "dokploy" / "api-key"
    api.write_key_file(str(path), "dkp_one")
    api.write_key_file(str(path), "dkp_two")
    assert path.read_text() == "dkp_two\n"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert os.listdir(path.parent) == ["api-key"]


@pytest.mark.parametrize(
    ("compose", "expected"),
    [
        ({"appName": "coreldove-x1y2z3", "command": ""}, "coreldove-x1y2z3"),
        ({"appName": "coreldove-x1y2z3", "command": api.STACK_COMMAND.format(name="coreldove")}, "coreldove"),
        ({"appName": "c-1", "command": api.COMPOSE_COMMAND.format(name="coreldove")}, "coreldove"),
        ({"appName": "c-1", "command": "compose up -d"}, None),
    ],
)
def test_stack_name_reads_the_pinned_command(compose, expected):
    assert api.stack_name(compose) == expected


def test_latest_deployments_are_newest_first_and_bounded():
    deps = [{"deploymentId": str(i), "createdAt": f"2026-01-0{i}T00:00:00Z", "status": "done"} for i in range(1, 6)]
    latest = api.latest_deployments(deps, 2)
    assert [d["deployment_id"] for d in latest] == ["5", "4"]


def test_the_client_never_replays_a_session_cookie_on_its_own(dokploy):
    c = client(dokploy, None)
    signed_up = c.request(
        "POST", "/api/auth/sign-up/email", body={"email": "a@b.test", "password": "12345678", "name": "A"}, auth=False
    )
    assert "better-auth.session_token" in signed_up.cookies()
    assert c.request("GET", "user.get", accept=(401,)).status == 401
    assert c.request("GET", "user.get", cookies=signed_up.cookies()).status == 200
