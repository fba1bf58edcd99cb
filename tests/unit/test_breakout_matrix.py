"""The site scenario's breakout matrix (molecule/site/files/breakout.py): every path of issue 16 is
generated for every platform, each kind of refusal has a control, and the runner reports surprises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("breakout", ROOT / "molecule/site/files/breakout.py")
breakout = importlib.util.module_from_spec(spec)
spec.loader.exec_module(breakout)


def platform(name, ns=True):
    return {
        "private_network": f"bizosaas-{name}",
        "database": f"{name}_platform",
        "redis_prefix": f"{name}:",
        "namespace": name if ns else "",
        "temporal_address": f"bizosaas-shared_temporal-{name}:7233",
        "services": {
            f"{name}_frontend": {"port": 8080, "path": "/", "signature": '"platform"',
                                 "networks": {f"bizosaas-{name}": ["10.0.1.2"], f"bizosaas-{name}-edge": ["10.0.2.2"]}},
            f"{name}_api": {"port": 8080, "path": "/", "signature": '"platform"',
                            "networks": {f"bizosaas-{name}": ["10.0.1.3"]}},
        },
    }


CTX = {
    "self": "bizoholic",
    "platforms": {"bizoholic": platform("bizoholic"), "coreldove": platform("coreldove"),
                  "management": platform("management", ns=False)},
    "postgres": {"host": "pg", "port": 5432, "superuser": "postgres"},
    "redis": {"host": "redis", "port": 6379},
    "host_addresses": ["172.18.0.1", "172.28.0.3"],
    "dokploy_port": 3000,
    "socket_proxy": {"names": ["bizosaas-docker-proxy"]},
}
ENV = {"PGUSER": "bizoholic", "PGPASSWORD_FILE": "/run/secrets/postgres_password", "REDIS_USER": "bizoholic",
       "REDIS_PASSWORD_FILE": "/run/secrets/redis_password", "TEMPORAL_ADDRESS": "t:7233",
       "TEMPORAL_NAMESPACE": "bizoholic"}


def labels(checks, want):
    return [c["label"] for c in checks if c["want"] == want]


def test_every_path_of_the_issue_is_tried():
    checks = breakout.matrix(CTX, ENV)
    refused = labels(checks, "refused")
    # other platforms' services by name and by every address on every network
    for other in ("coreldove", "management"):
        for svc in ("frontend", "api"):
            assert f"{other}'s {other}_{svc}" in refused and f"{other}'s tasks.{other}_{svc}" in refused
        assert f"{other}'s {other}_frontend at 10.0.2.2 (bizosaas-{other}-edge)" in refused
        assert f"{other}'s database {other}_platform" in refused
        assert f"GET in {other}'s prefix" in refused
    # Dokploy on every host address, the socket proxy's write endpoints, Temporal, Redis, Postgres
    assert {"Dokploy at 172.18.0.1:3000", "Dokploy at 172.28.0.3:3000"} <= set(refused)
    assert "the Docker API at 172.18.0.1:2375" in refused and "the Docker API at 172.28.0.3:2376" in refused
    assert "the socket proxy bizosaas-docker-proxy" in refused
    assert {"coreldove's namespace on its Temporal", "coreldove's namespace on bizoholic's Temporal"} <= set(refused)
    assert not any("management's namespace" in x for x in refused)  # management has none here
    assert {"SCAN 0", "RANDOMKEY", "KEYS *", "PUBSUB CHANNELS"} <= set(refused)
    assert {"the postgres maintenance database", "the superuser postgres over TCP"} <= set(refused)
    # no check of its own platform is a refusal
    assert not any("bizoholic's" in x and "on bizoholic's Temporal" not in x for x in refused)


def test_each_kind_of_refusal_has_a_control():
    checks = breakout.matrix(CTX, ENV)
    refused_kinds = {c["kind"] for c in checks if c["want"] == "refused"}
    control_kinds = {c["kind"] for c in checks if c["want"] == "ok"}
    # the Docker API's control runs from Traefik's side (verify_breakout.yml), through the proxy's socket
    assert refused_kinds - {"socket"} <= control_kinds
    controls = labels(checks, "ok")
    assert "own database bizoholic_platform" in controls and "own namespace bizoholic" in controls
    assert "own service bizoholic_frontend at 10.0.1.2" in controls
    # the control request reads the key the control SET wrote
    gets = [c for c in checks if c["label"] == "GET in its own prefix"]
    assert gets and gets[0]["command"][1].startswith("bizoholic:breakout:")


def test_refusals_that_must_name_their_reason():
    by = {c["label"]: c for c in breakout.matrix(CTX, ENV)}
    assert by["the superuser postgres over TCP"]["expect"] == "pg_hba.conf rejects"
    assert by["coreldove's database coreldove_platform"]["expect"] == "permission denied"
    assert by["SCAN 0"]["expect"] == "NOPERM"


def test_the_runner_reports_surprises(capsys):
    def fake(check):
        return check["label"].startswith("yes"), "detail"

    breakout.KINDS["fake"] = fake
    try:
        found = breakout.run([
            {"kind": "fake", "label": "yes-ok", "want": "ok"},
            {"kind": "fake", "label": "no-refused", "want": "refused"},
            {"kind": "fake", "label": "yes-but-should-be-refused", "want": "refused"},
            {"kind": "fake", "label": "no-refused-wrong-reason", "want": "refused", "expect": "NOPERM"},
        ])
    finally:
        del breakout.KINDS["fake"]
    assert len(found) == 2
    assert found[0].startswith("yes-but-should-be-refused: ok")
    assert "not 'NOPERM'" in found[1]
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_a_crashing_probe_is_a_surprise_not_a_refusal():
    def boom(check):
        raise RuntimeError("no module named psycopg2")

    breakout.KINDS["boom"] = boom
    try:
        found = breakout.run([{"kind": "boom", "label": "crash", "want": "refused"}])
    finally:
        del breakout.KINDS["boom"]
    assert found and "crashed" in found[0]
