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
