"""Unit tests for the data-service filters (bizosaas.ops data.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter import data

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = yaml.safe_load((ROOT / "group_vars/all/platforms.yml").read_text())


def pw_users(names, pw="x"):
    return [{"name": n, "password": pw, "password_var": f"vault_postgres_{n}_password"} for n in names]


def test_platform_databases_from_the_glue():
    dbs = data.platform_databases(PLATFORMS["bizosaas_platforms"], PLATFORMS["bizosaas_shared_databases"])
    assert [d["name"] for d in dbs] == [
        "bizoholic_platform", "coreldove_platform", "shared_analytics", "temporal_system", "temporal_visibility"]
    assert [d["owner"] for d in dbs] == ["bizoholic", "coreldove", "management", "temporal", "temporal"]
    assert dbs[0]["extensions"] == ["vector"] and dbs[2]["extensions"] == []
    assert [d["allow_shared_owner"] for d in dbs] == [False, False, False, True, True]
    owners = sorted({d["owner"] for d in dbs})
    assert data.postgres_input_errors(dbs, pw_users(owners)) == []


def test_disabled_platform_is_not_managed():
    p = {"a": {"enabled": False, "database": "a_db"}, "b": {"database": "b_db", "redis_prefix": "b:"}}
    assert [d["name"] for d in data.platform_databases(p)] == ["b_db"]
    assert [u["name"] for u in data.platform_redis_users(p)] == ["b"]


@pytest.mark.parametrize("name", ["Bad", "bad-name", "1db", "a" * 64, "postgres", "template1", ""])
def test_invalid_database_identifier(name):
    errs = data.postgres_input_errors([{"name": name, "owner": "o"}], pw_users(["o"]))
    assert any("not a valid database identifier" in e for e in errs)


def test_duplicate_database():
    errs = data.postgres_input_errors(
        [{"name": "d", "owner": "o", "allow_shared_owner": True}] * 2,
        pw_users(["o"]))
    assert any("duplicate database name 'd'" in e for e in errs)


def test_shared_owner_needs_explicit_permission():
    dbs = [{"name": "a", "owner": "o", "source": "bizosaas_platforms.a.database"}, {"name": "b", "owner": "o"}]
    errs = data.postgres_input_errors(dbs, pw_users(["o"]))
    assert any("owner role 'o' is shared" in e and "allow_shared_owner" in e for e in errs)
    for d in dbs:
        d["allow_shared_owner"] = True
    assert data.postgres_input_errors(dbs, pw_users(["o"])) == []


def test_missing_password_names_the_vault_variable():
    errs = data.postgres_input_errors([{"name": "a", "owner": "o"}], pw_users(["o"], pw=""))
    assert errs == ["vault_postgres_o_password is missing or empty: the password of Postgres role 'o' comes from "
                    "the vault (postgres_users[0].password)"]


def test_secret_entries():
    out = data.secret_entries(["a", "b"], ["1", None], "x")
    assert out == [{"name": "a", "password": "1", "password_var": "vault_x_a_password"},
                   {"name": "b", "password": "", "password_var": "vault_x_b_password"}]
    with pytest.raises(AnsibleFilterError):
        data.secret_entries(["a"], [], "x")
    assert data.secret_var_names([{"name": "b"}], "redis") == ["vault_redis_b_password"]


def test_redis_overlapping_prefixes():
    users = [{"name": "a", "prefix": "app:", "password": "x"}, {"name": "b", "prefix": "app:b", "password": "y"}]
    errs = data.redis_input_errors(users, "d")
    assert any("overlaps" in e for e in errs)
    users[1]["prefix"] = "bpp:"
    assert data.redis_input_errors(users, "d") == []
    errs = data.redis_input_errors(users, "", "vault_redis_default_password")
    assert any("vault_redis_default_password" in e for e in errs)


def test_redis_glob_prefix_refused():
    errs = data.redis_input_errors([{"name": "a", "prefix": "a*", "password": "x"}], "d")
    assert any("not a valid key prefix" in e for e in errs)


def test_temporal_unknown_platform():
    errs = data.temporal_input_errors([{"name": "xy", "platform": "nope"}], ["bizoholic"])
    assert errs and "unknown platform 'nope'" in errs[0]
    assert data.temporal_input_errors([{"name": "xy", "platform": "bizoholic"}], ["bizoholic"]) == []


def test_pg_tuning_and_args():
    t = data.pg_tuning(8192, 0.5, 100)
    assert t["shared_buffers"] == "1024MB" and t["effective_cache_size"] == "3072MB"
    args = data.pg_args({"work_mem": "4MB", "shared_buffers": "1GB"})
    assert args == ["postgres", "-c", "shared_buffers=1GB", "-c", "work_mem=4MB"]
    with pytest.raises(AnsibleFilterError):
        data.pg_tuning(100, 0.5)
    with pytest.raises(AnsibleFilterError):
        data.pg_args({"bad name; x": 1})


def _verify(verifier: str, password: str) -> bool:
    """What the server does: recompute StoredKey from the client's proof material."""
    head, keys = verifier.split("$", 2)[1:]
    it, salt = head.split(":")
    stored, _server = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", data.saslprep(password), base64.b64decode(salt), int(it))
    ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(ck).digest() == base64.b64decode(stored)


@pytest.mark.parametrize("pw", ["simple", "q'\"\\ä ☃", "naïve café", "x" * 200])
def test_scram_is_deterministic_and_verifies(pw):
    v1 = data.scram_sha256(pw, "role")
    assert v1 == data.scram_sha256(pw, "role")  # idempotent reruns
    assert v1 != data.scram_sha256(pw, "other")  # salt depends on the role
    assert v1.startswith("SCRAM-SHA-256$4096:") and _verify(v1, pw)
    assert data.scram_matches(v1, pw) and not data.scram_matches(v1, pw + "x")


def test_scram_keeps_a_matching_current_verifier():
    current = data.scram_sha256("pw", "someone-else")  # e.g. set by initdb with another salt
    assert data.scram_sha256("pw", "role", current) == current
    assert data.scram_sha256("new", "role", current) == data.scram_sha256("new", "role")
    with pytest.raises(AnsibleFilterError):
        data.scram_sha256("", "role")


def test_saslprep_maps_spaces_and_normalises():
    assert data.saslprep("a\u00a0b") == b"a b"  # non-ASCII space -> space
    assert data.saslprep("\u2168") == b"IX"  # NFKC
    assert data.saslprep("a\u0007b") == "a\u0007b".encode()  # prohibited -> raw bytes, as PostgreSQL


def test_redis_acl_has_hashes_only():
    acl = data.redis_acl([{"name": "b", "prefix": "b:", "password": "s3cr'et"}], "adm\"in")
    assert "s3cr'et" not in acl and "adm\"in" not in acl
    assert f"#{hashlib.sha256(b's3cr' + chr(39).encode() + b'et').hexdigest()}" in acl
    assert "user b on #" in acl and "resetkeys ~b:* resetchannels &b:* -@all" in acl
    assert acl.startswith("user default on #")
    with pytest.raises(AnsibleFilterError):
        data.redis_acl([], "")


# --- reconcile: CONNECT grants and unknown superusers --------------------------------------------
DBS = [{"name": "bizoholic_platform", "owner": "bizoholic"}, {"name": "coreldove_platform", "owner": "coreldove"}]
RO = [{"name": "analytics_reader", "databases": ["bizoholic_platform", "coreldove_platform"]}]


def test_connect_revokes_finds_a_grant_to_another_platform():
    keys = ["bizoholic|bizoholic_platform", "analytics_reader|bizoholic_platform", "postgres|coreldove_platform",
            "coreldove|coreldove_platform", "bizoholic|coreldove_platform", "analytics_reader|coreldove_platform",
            "someone|unmanaged_db"]
    assert data.postgres_connect_revokes(keys, DBS, RO) == [{"role": "bizoholic", "database": "coreldove_platform"}]


def test_connect_revokes_keeps_the_entitled_roles():
    keys = ["bizoholic|bizoholic_platform", "analytics_reader|bizoholic_platform", "postgres|bizoholic_platform"]
    assert data.postgres_connect_revokes(keys, DBS, RO) == []
    # a read-only role not given the database is not entitled to it
    ro = [{"name": "analytics_reader", "databases": ["bizoholic_platform"]}]
    assert data.postgres_connect_revokes(["analytics_reader|coreldove_platform"], DBS, ro) == [
        {"role": "analytics_reader", "database": "coreldove_platform"}]


def test_unknown_superusers_are_named():
    rows = [{"rolname": "postgres", "login_superuser": True}, {"rolname": "intruder", "login_superuser": True},
            {"rolname": "dba", "login_superuser": True}, {"rolname": "nologin_super", "login_superuser": False},
            {"rolname": "bizoholic", "login_superuser": False}]
    assert data.postgres_unknown_superusers(rows, ["dba"]) == ["intruder"]
    assert data.postgres_unknown_superusers(rows, []) == ["dba", "intruder"]


# --- Redis: keyless commands denied, opt-in, self-check ------------------------------------------
def test_redis_acl_denies_the_enumerating_commands_after_the_categories():
    acl = data.redis_acl([{"name": "b", "prefix": "b:", "password": "p"}], "a", ["+@all"])
    rules = acl.splitlines()[1].split()
    assert rules.index("+@all") < rules.index("-scan")
    for cmd in ("scan", "keys", "randomkey", "dbsize", "pubsub|channels", "pubsub|numpat", "pubsub|shardchannels",
                "pubsub|numsub", "client|tracking", "function"):
        assert f"-{cmd}" in rules, cmd
    assert not [r for r in rules if r.startswith("+") and not r.startswith("+@")]
    # the admin keeps every command
    assert acl.splitlines()[0].endswith("~* &* +@all")


def test_redis_acl_opt_in_comes_last_and_only_for_that_user():
    users = [{"name": "a", "prefix": "a:", "password": "p", "unsafe_commands": ["scan"]},
             {"name": "b", "prefix": "b:", "password": "q"}]
    a, b = data.redis_acl(users, "adm").splitlines()[1:]
    assert a.split()[-1] == "+scan" and "-scan" in a.split()
    assert "+scan" not in b.split()
    with pytest.raises(AnsibleFilterError, match="not denied commands"):
        data.redis_acl([{"name": "a", "prefix": "a:", "password": "p", "unsafe_commands": ["flushall"]}], "adm")


def test_redis_unsafe_commands_are_validated_and_warned():
    users = [{"name": "a", "prefix": "a:", "password": "p", "unsafe_commands": ["scan", "flushall"]},
             {"name": "b", "prefix": "b:", "password": "q", "unsafe_commands": "scan"}]
    errs = data.redis_input_errors(users, "d")
    assert any("redis_users[0].unsafe_commands" in e and "flushall" in e and "scan, keys" in e for e in errs)
    assert any("redis_users[1].unsafe_commands" in e for e in errs)
    ok = [{"name": "a", "prefix": "a:", "password": "p", "unsafe_commands": ["scan", "pubsub|numsub"]},
          {"name": "b", "prefix": "b:", "password": "q"}]
    assert data.redis_input_errors(ok, "d") == []
    warnings = data.redis_unsafe_warnings(ok)
    assert len(warnings) == 1 and "'a' may run SCAN, PUBSUB|NUMSUB" in warnings[0] and "b:*" in warnings[0]


def test_platform_redis_users_carry_the_opt_in():
    p = {"a": {"redis_prefix": "a:", "redis_unsafe_commands": ["scan"]}, "b": {"redis_prefix": "b:"}}
    assert [u["unsafe_commands"] for u in data.platform_redis_users(p)] == [["scan"], []]


def test_redis_selfcheck_line():
    assert data.redis_selfcheck_line({"name": "a", "prefix": "a:"}) == (
        "SELFCHECK a ping=ok own=ok outside=NOPERM scan=NOPERM randomkey=NOPERM dbsize=NOPERM channels=NOPERM")
    assert "scan=ok randomkey=NOPERM" in data.redis_selfcheck_line({"name": "a", "unsafe_commands": ["scan"]})


# --- networks and the published schema ------------------------------------------------------------
@pytest.mark.parametrize("value", [[], None, "bizosaas-network", {}])
def test_data_networks_must_be_a_non_empty_list(value):
    errs = data.data_network_errors(value, "postgres_networks")
    assert len(errs) == 1 and errs[0].startswith("postgres_networks is") and "bizosaas_platform_networks" in errs[0]


def test_data_network_names_and_duplicates():
    errs = data.data_network_errors(["bizosaas-network", "bad name", "", "bizosaas-network"], "redis_networks")
    assert "redis_networks[1]: 'bad name' is not a Docker network name" in errs[0]
    assert "redis_networks[2]" in errs[1]
    assert errs[2] == "redis_networks: bizosaas-network listed more than once"
    assert data.data_network_errors(["bizosaas-network", "bizosaas-coreldove"], "redis_networks") == []


def test_data_networks_on_the_engine():
    engine = [{"Name": "bizosaas-network", "Driver": "overlay", "Scope": "swarm"},
              {"Name": "bridge", "Driver": "bridge", "Scope": "local"}]
    errs = data.data_network_engine_errors(["bizosaas-network", "bizosaas-coreldove", "bridge"], engine,
                                           "postgres_networks")
    assert len(errs) == 2
    assert "'bizosaas-coreldove' does not exist" in errs[0] and "playbooks/docker_swarm.yml" in errs[0]
    assert "'bridge' is a local-scoped bridge network" in errs[1]
    assert data.data_network_engine_errors(["bizosaas-network"], engine, "postgres_networks") == []


@pytest.mark.parametrize("schema", ["public", "information_schema", "pg_catalog", "pg_x", "Analytics", "", None, "a-b"])
def test_published_schema_is_never_public_or_a_system_schema(schema):
    errs = data.postgres_schema_errors(schema)
    assert len(errs) == 1 and errs[0].startswith("postgres_readonly_schema:") and "public holds" in errs[0]


def test_published_schema_ok():
    assert data.postgres_schema_errors("analytics") == [] and data.postgres_schema_errors("bi_export") == []
