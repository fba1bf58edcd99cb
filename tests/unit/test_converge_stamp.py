"""Unit tests for bizosaas.ops.converge_stamp (the fast path): probes, check, record, check mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.bizosaas.ops.plugins.action import converge_stamp as action
from ansible_collections.bizosaas.ops.plugins.modules import converge_stamp as m


class FakeModule:
    def __init__(self, params: dict, check_mode: bool = False):
        self.params = {"state": "check", "probes": {}, "max_age": 86400, **params}
        self.check_mode = check_mode

    def fail_json(self, **kw):
        raise AssertionError(kw["msg"])


class FakeHost(m.Host):
    """Answers the docker/systemctl/dpkg commands from a dict instead of running them."""

    def __init__(self, answers: dict | None = None):
        self.answers = answers or {}
        self.calls: list = []

    def run(self, argv):
        key = argv if isinstance(argv, str) else " ".join(argv[:3])
        self.calls.append(key)
        return self.answers.get(key, (0, ""))


def params(tmp_path: Path, **kw) -> dict:
    return {"name": "role", "inputs": {"var a": "1"}, "dir": str(tmp_path / "stamps"), **kw}


def record(tmp_path: Path, host: FakeHost | None = None, **kw) -> dict:
    return m.run(FakeModule(params(tmp_path, state="record", **kw)), host or FakeHost())


def check(tmp_path: Path, host: FakeHost | None = None, **kw) -> dict:
    return m.run(FakeModule(params(tmp_path, **kw)), host or FakeHost())


def test_first_check_is_not_fresh(tmp_path):
    result = check(tmp_path)
    assert result["fresh"] is False
    assert "no stamp" in result["reasons"][0]


def test_record_then_check_is_fresh_and_the_stamp_is_private(tmp_path):
    target = tmp_path / "f.conf"
    target.write_text("a=1\n")
    probes = {"files": [str(target)]}
    assert record(tmp_path, probes=probes)["recorded"] is True
    assert check(tmp_path, probes=probes)["fresh"] is True
    stamp = tmp_path / "stamps" / "role.json"
    assert oct(stamp.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "stamps").stat().st_mode & 0o777) == "0o700"
    key = (tmp_path / "stamps" / ".key")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # inputs are keyed digests: nothing in the stamp is a plain digest of a value
    assert json.loads(stamp.read_text())["inputs"] == m.keyed({"var a": "1"}, key.read_bytes())
    assert "1" not in json.loads(stamp.read_text())["inputs"].values()


def test_record_is_idempotent(tmp_path):
    record(tmp_path)
    second = record(tmp_path)
    assert second["recorded"] is False
    assert second["changed"] is False


@pytest.mark.parametrize("drift", ["content", "mode", "removed"])
def test_a_file_changed_by_hand_is_named(tmp_path, drift):
    target = tmp_path / "f.conf"
    target.write_text("a=1\n")
    probes = {"files": [str(target)]}
    record(tmp_path, probes=probes)
    if drift == "content":
        target.write_text("a=2\n")
    elif drift == "mode":
        os.chmod(target, 0o666)
    else:
        target.unlink()
    result = check(tmp_path, probes=probes)
    assert result["fresh"] is False
    assert result["reasons"] == [f"host file:{target}: differs" + (" (absent now)" if drift == "removed" else "")]


def test_a_new_file_in_a_glob_is_drift(tmp_path):
    (tmp_path / "a.conf").write_text("x")
    probes = {"files": [str(tmp_path / "*.conf")]}
    record(tmp_path, probes=probes)
    (tmp_path / "b.conf").write_text("y")
    reasons = check(tmp_path, probes=probes)["reasons"]
    assert f"host glob:{tmp_path}/*.conf: differs" in reasons
    assert f"host file:{tmp_path}/b.conf: not in the stamp" in reasons


def test_a_large_file_is_compared_by_size_and_mtime_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(m, "LARGE_FILE", 4)
    big = tmp_path / "swapfile"
    big.write_bytes(b"0123456789")
    probes = {"files": [str(big)]}
    record(tmp_path, probes=probes)
    assert check(tmp_path, probes=probes)["fresh"] is True
    big.write_bytes(b"0123456789ab")
    assert check(tmp_path, probes=probes)["fresh"] is False


def test_modes_ignore_content(tmp_path):
    target = tmp_path / "acme.json"
    target.write_text("{}")
    os.chmod(target, 0o600)
    probes = {"modes": [str(target)]}
    record(tmp_path, probes=probes)
    target.write_text('{"cert": 1}')
    assert check(tmp_path, probes=probes)["fresh"] is True
    os.chmod(target, 0o644)
    assert check(tmp_path, probes=probes)["fresh"] is False


def test_recording_a_new_input_is_not_a_change_on_the_host(tmp_path):
    record(tmp_path)
    result = record(tmp_path, inputs={"var a": "2"})
    assert result["recorded"] is True
    assert result["changed"] is False


def test_a_changed_input_is_named(tmp_path):
    record(tmp_path)
    result = check(tmp_path, inputs={"var a": "2"})
    assert result == {"fresh": False, "reasons": ["input var a: differs"], "stamp": result["stamp"],
                      "invalidated": True}


def test_check_mode_records_nothing(tmp_path):
    result = m.run(FakeModule(params(tmp_path, state="record"), check_mode=True), FakeHost())
    assert result["recorded"] is False
    assert not (tmp_path / "stamps" / "role.json").exists()


def test_a_service_rolled_back_or_short_of_replicas_is_drift(tmp_path):
    spec = [{"Spec": {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "app:2"}}}}]
    answers = {
        "docker service inspect": (0, json.dumps(spec)),
        "docker service ls": (0, "web\t1/1\n"),
    }
    probes = {"services": ["web"]}
    record(tmp_path, FakeHost(answers), probes=probes)
    assert check(tmp_path, FakeHost(answers), probes=probes)["fresh"] is True
    short = dict(answers, **{"docker service ls": (0, "web\t0/1\n")})
    assert check(tmp_path, FakeHost(short), probes=probes)["reasons"] == ["host service:web: differs"]
    record(tmp_path, FakeHost(answers), probes=probes)
    rolled_spec = [{"Spec": {"Name": "web", "TaskTemplate": {}}}]
    rolled = dict(answers, **{"docker service inspect": (0, json.dumps(rolled_spec))})
    assert check(tmp_path, FakeHost(rolled), probes=probes)["fresh"] is False
    record(tmp_path, FakeHost(answers), probes=probes)
    gone = dict(answers, **{"docker service inspect": (1, "[]")})
    assert check(tmp_path, FakeHost(gone), probes=probes)["reasons"] == ["host service:web: differs (absent now)"]


def test_a_container_keeps_its_digest_across_restarts_of_nothing(tmp_path):
    obj = {
        "Name": "/traefik",
        "Image": "sha256:1",
        "Config": {"Image": "traefik:3"},
        "HostConfig": {},
        "State": {"Running": True, "StartedAt": "t1"},
        "NetworkSettings": {"Networks": {"a": {}, "b": {}}},
    }
    answers = {"docker container inspect": (0, json.dumps([obj]))}
    probes = {"containers": ["traefik"]}
    record(tmp_path, FakeHost(answers), probes=probes)
    later = dict(obj, State={"Running": True, "StartedAt": "t2"})
    assert check(tmp_path, FakeHost({"docker container inspect": (0, json.dumps([later]))}), probes=probes)["fresh"]
    assert (tmp_path / "stamps" / "role.json").exists(), "a fresh check keeps the stamp"
    detached = dict(obj, NetworkSettings={"Networks": {"a": {}}})
    result = check(tmp_path, FakeHost({"docker container inspect": (0, json.dumps([detached]))}), probes=probes)
    assert result["reasons"] == ["host container:traefik: differs"]


def test_commands_are_batched_one_process_per_kind(tmp_path):
    host = FakeHost()
    probes = {
        "containers": ["a", "b"],
        "networks": ["n1", "n2"],
        "units": ["x.service", "y.service"],
        "packages": ["p1", "p2"],
        "commands": {"acl": "echo acl"},
    }
    record(tmp_path, host, probes=probes)
    assert len(host.calls) == 5


def test_a_host_without_docker_is_simply_not_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(m.shutil, "which", lambda _name: None)

    class NoRunModule(FakeModule):
        def run_command(self, *_a, **_k):
            raise AssertionError("a missing program must not be run")

    module = NoRunModule(params(tmp_path, probes={"containers": ["traefik"], "volumes": ["v"], "units": ["x"]}))
    result = m.run(module, m.Host(module))
    assert result["fresh"] is False


def test_reasons_are_capped(tmp_path):
    paths = [str(tmp_path / f"f{i}") for i in range(20)]
    record(tmp_path, probes={"files": paths})
    for p in paths:
        Path(p).write_text("new")
    reasons = check(tmp_path, probes={"files": paths})["reasons"]
    assert len(reasons) == m.MAX_REASONS + 1
    assert reasons[-1] == "... and 8 more"


def test_a_name_with_a_slash_is_refused(tmp_path):
    with pytest.raises(AssertionError, match="plain file name"):
        check(tmp_path, name="../etc/passwd")


def test_the_role_tree_digest_ignores_docs_and_follows_code(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "main.yml").write_text("---\n")
    before = action.tree_digest(str(tmp_path))
    (tmp_path / "README.md").write_text("docs")
    assert action.tree_digest(str(tmp_path)) == before
    (tmp_path / "tasks" / "main.yml").write_text("--- # changed\n")
    assert action.tree_digest(str(tmp_path)) != before


def test_every_role_variable_is_an_input():
    roles = Path(__file__).resolve().parents[2] / "roles"
    for role in ("hardening", "docker_engine", "postgres", "platform_stack"):
        names = action.spec_variables(str(roles / role))
        assert f"{role}_enabled" in names, role


# --- issue 18: the fast path never trusts a stale or incomplete stamp ----------------------------
def test_a_check_that_is_not_fresh_removes_the_stamp_so_a_failed_converge_is_not_trusted(tmp_path):
    target = tmp_path / "f.conf"
    target.write_text("a=1\n")
    probes = {"files": [str(target)]}
    record(tmp_path, probes=probes)
    target.write_text("a=2\n")
    first = check(tmp_path, probes=probes)
    assert first["fresh"] is False and first["invalidated"] is True
    # the converge "fails" here, before recording; the drift is undone by hand: still not fresh
    target.write_text("a=1\n")
    again = check(tmp_path, probes=probes)
    assert again["fresh"] is False and "no stamp" in again["reasons"][0]


def test_check_mode_never_removes_the_stamp(tmp_path):
    record(tmp_path)
    result = m.run(FakeModule(params(tmp_path, inputs={"var a": "2"}), check_mode=True), FakeHost())
    assert result["fresh"] is False and result["invalidated"] is False
    assert (tmp_path / "stamps" / "role.json").exists()


def test_invalidate_removes_the_stamp(tmp_path):
    record(tmp_path)
    result = m.run(FakeModule(params(tmp_path, state="invalidate")), FakeHost())
    assert result["invalidated"] is True and not (tmp_path / "stamps" / "role.json").exists()


def test_a_stamp_older_than_max_age_is_not_fresh(tmp_path, monkeypatch):
    record(tmp_path)
    later = m.time.time() + 25 * 3600
    monkeypatch.setattr(m.time, "time", lambda: later)
    result = check(tmp_path, max_age=86400)
    assert result["fresh"] is False and "older than max_age" in result["reasons"][0]


def test_max_age_zero_means_no_limit(tmp_path, monkeypatch):
    record(tmp_path)
    later = m.time.time() + 400 * 86400
    monkeypatch.setattr(m.time, "time", lambda: later)
    assert check(tmp_path, max_age=0)["fresh"] is True


def test_a_stamp_of_the_older_format_is_not_trusted(tmp_path):
    record(tmp_path)
    stamp = tmp_path / "stamps" / "role.json"
    data = json.loads(stamp.read_text())
    data["format"] = 1
    stamp.write_text(json.dumps(data))
    assert check(tmp_path)["fresh"] is False


def test_the_inputs_argument_is_never_logged():
    source = Path(m.__file__).read_text()
    assert '"inputs": {"type": "dict", "required": True, "no_log": True}' in source


def test_a_tag_that_moved_in_its_registry_is_drift(tmp_path):
    spec = [{"Spec": {"Name": "shop_web", "TaskTemplate": {"ContainerSpec": {"Image": "reg:5000/app:1@sha256:aaa"}}}}]
    answers = {"docker service ls": (0, "shop_web\n"), "docker service inspect": (0, json.dumps(spec))}

    class Registry(FakeHost):
        def __init__(self, digest):
            super().__init__(answers)
            self.digest = digest

        def registry_digest(self, ref):
            assert ref == "reg:5000/app:1"
            return self.digest

    probes = {"stack_images": ["shop"]}
    record(tmp_path, Registry("sha256:aaa"), probes=probes)
    assert check(tmp_path, Registry("sha256:aaa"), probes=probes)["fresh"] is True
    moved = check(tmp_path, Registry("sha256:bbb"), probes=probes)
    assert moved["reasons"] == ["host image:shop_web: differs"]


def test_role_variables_are_every_role_prefixed_name_and_every_spec_option():
    role_path = str(Path(__file__).resolve().parents[2] / "roles" / "traefik")
    names = action.role_variables("traefik", role_path, ["traefik_image", "traefik_registry", "bizosaas_registry",
                                                         "__traefik_certs", "postgres_image"])
    assert "traefik_registry" in names and "traefik_image" in names and "traefik_enabled" in names
    assert "bizosaas_registry" not in names and "__traefik_certs" not in names and "postgres_image" not in names


@pytest.mark.parametrize(("value", "want"), [(90, 90), ("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800),
                                             ("0", 0)])
def test_max_age_durations(value, want):
    assert action.seconds(value, "bizosaas_fast_path_max_age") == want


def test_a_bad_max_age_names_the_variable():
    with pytest.raises(action.AnsibleActionFail, match="bizosaas_fast_path_max_age is 'forever'"):
        action.seconds("forever", "bizosaas_fast_path_max_age")
