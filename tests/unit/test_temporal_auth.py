"""Temporal's built-in authorization, as the toolkit feeds it: the JWKS of the signing key, the
platform tokens (bizosaas.ops.temporal_token, module_utils/temporal_jwt.py) and the glue filters
(filter/temporal.py).

Tokens are verified with josepy (an independent JOSE implementation, already pinned for the ACME
client), and their permissions are read the way Temporal's default ClaimMapper and Authorizer read
them (temporal/common/authorization: default_jwt_claim_mapper.go, default_authorizer.go)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import josepy
import pytest
from ansible.errors import AnsibleFilterError
from ansible.module_utils.testing import patch_module_args
from ansible_collections.bizosaas.ops.plugins.filter import docker as docker_filters
from ansible_collections.bizosaas.ops.plugins.filter import temporal as f
from ansible_collections.bizosaas.ops.plugins.module_utils import temporal_jwt as jwt
from ansible_collections.bizosaas.ops.plugins.modules import temporal_token
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

NAMESPACES = [
    {"name": "bizoholic", "platform": "bizoholic"},
    {"name": "coreldove", "platform": "coreldove"},
    {"name": "management", "platform": "management"},
]
DAY = 86400
NOW = 1_800_000_000


def pem_private(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def key():
    return ec.generate_private_key(ec.SECP256R1())


# ---------------------------------------------------------------- Temporal's reading of a token
# Roles are a bitmask (roles.go): worker 1, reader 2, writer 4, admin 8; permissionToRole maps
# read/write/worker/admin (any case) and nothing else.
ROLE = {"worker": 1, "read": 2, "write": 4, "admin": 8}


def temporal_claims(payload: dict, claim: str = "permissions") -> tuple[int, dict[str, int]]:
    """(system role, {namespace: role}) as defaultJWTClaimMapper.extractPermissions builds them."""
    system, namespaces = 0, {}
    for p in payload.get(claim) or []:
        if not isinstance(p, str) or ":" not in p:
            continue
        ns, role = p.split(":", 1)
        bits = ROLE.get(role.lower(), 0)
        if ns == "temporal-system":
            system |= bits
        else:
            namespaces[ns] = namespaces.get(ns, 0) | bits
    return system, namespaces


def allowed(payload: dict, namespace: str, access: str) -> bool:
    """defaultAuthorizer for a namespace-scoped API: (system | namespace role) >= the access's role."""
    system, namespaces = temporal_claims(payload)
    need = {"read": ROLE["read"], "write": ROLE["write"], "admin": ROLE["admin"]}[access]
    return (system | namespaces.get(namespace, 0)) >= need


# ---------------------------------------------------------------- JWKS and signing
def test_jwks_is_what_the_key_provider_reads_and_kid_is_the_rfc7638_thumbprint(key):
    doc = f.temporal_jwks(pem_public(key).decode())
    assert len(doc["keys"]) == 1
    k = doc["keys"][0]
    assert {k["kty"], k["crv"], k["alg"], k["use"]} == {"EC", "P-256", "ES256", "sig"}
    independent = josepy.JWKEC.from_json({x: k[x] for x in ("kty", "crv", "x", "y")})
    assert k["kid"] == josepy.b64encode(independent.thumbprint()).decode()
    assert "d" not in k  # never the private part
    json.dumps(doc)  # serialisable as the file the gateway serves


def test_jwks_of_two_keys_keeps_both_kids(key):
    other = ec.generate_private_key(ec.SECP256R1())
    doc = f.temporal_jwks([pem_public(key).decode(), pem_public(other).decode()])
    assert len({k["kid"] for k in doc["keys"]}) == 2


def test_jwks_refuses_a_key_temporal_cannot_use():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AnsibleFilterError, match="P-256"):
        f.temporal_jwks(pem_public(rsa_key).decode())
    with pytest.raises(AnsibleFilterError, match="not a PEM public key"):
        f.temporal_jwks("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_token_verifies_with_an_independent_jose_library_against_the_jwks(key):
    perms = f.temporal_token_permissions(NAMESPACES, "bizoholic")
    token = jwt.sign(key, jwt.claims("bizosaas:bizoholic", perms, NOW, 365 * DAY))
    k = f.temporal_jwks(pem_public(key).decode())["keys"][0]
    parsed = josepy.JWS.from_compact(token.encode())
    assert parsed.signature.combined.alg.name == "ES256"
    assert parsed.signature.combined.kid == k["kid"]
    assert parsed.verify(josepy.JWKEC.from_json({x: k[x] for x in ("kty", "crv", "x", "y")}))
    # and with our own verifier, against the JWKS as the server gets it
    payload = jwt.verify(token, f.temporal_jwks(pem_public(key).decode()), NOW + 1)
    assert payload == {
        "iss": "bizosaas-ops",
        "sub": "bizosaas:bizoholic",
        "permissions": ["bizoholic:write"],
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 365 * DAY,
    }


def test_token_for_one_namespace_carries_no_permission_on_another(key):
    token = jwt.sign(
        key, jwt.claims("bizosaas:bizoholic", f.temporal_token_permissions(NAMESPACES, "bizoholic"), NOW, 30 * DAY)
    )
    payload = jwt.verify(token, pem_public(key), NOW + 1)
    system, namespaces = temporal_claims(payload)
    assert system == 0  # no cluster-wide role: cannot list namespaces or use the operator service
    assert namespaces == {"bizoholic": ROLE["write"]}
    assert allowed(payload, "bizoholic", "write") and allowed(payload, "bizoholic", "read")
    assert not allowed(payload, "bizoholic", "admin")  # no namespace admin (UpdateNamespace, ...)
    for other in ("coreldove", "management", "default", "Bizoholic"):
        assert not allowed(payload, other, "read"), other


def test_a_token_signed_by_another_key_or_tampered_with_is_refused(key):
    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.sign(other, jwt.claims("bizosaas:bizoholic", ["bizoholic:write"], NOW, DAY))
    with pytest.raises(jwt.TokenError, match="kid"):
        jwt.verify(token, f.temporal_jwks(pem_public(key).decode()), NOW)
    good = jwt.sign(key, jwt.claims("bizosaas:bizoholic", ["bizoholic:write"], NOW, DAY))
    head, _, sig = good.split(".")
    forged = jwt.b64url(
        json.dumps(
            {
                "iss": "bizosaas-ops",
                "sub": "x",
                "permissions": ["coreldove:admin"],
                "iat": NOW,
                "nbf": NOW,
                "exp": NOW + DAY,
            }
        ).encode()
    )
    with pytest.raises(jwt.TokenError, match="signature"):
        jwt.verify(f"{head}.{forged}.{sig}", pem_public(key), NOW)
    with pytest.raises(jwt.TokenError, match="algorithm"):
        none = jwt.b64url(json.dumps({"alg": "none", "kid": "x"}).encode())
        jwt.verify(f"{none}.{forged}.", pem_public(key), NOW)


def test_expiry_and_not_before_are_enforced(key):
    token = jwt.sign(key, jwt.claims("s", ["bizoholic:write"], NOW, DAY))
    assert jwt.verify(token, pem_public(key), NOW + DAY - 1)["exp"] == NOW + DAY
    with pytest.raises(jwt.TokenError, match="expired"):
        jwt.verify(token, pem_public(key), NOW + DAY)
    with pytest.raises(jwt.TokenError, match="not valid yet"):
        jwt.verify(token, pem_public(key), NOW - 1)


def test_permissions_refuse_a_system_wide_or_unknown_role():
    with pytest.raises(jwt.TokenError, match="cluster-wide"):
        jwt.permissions(["temporal-system"], "write")
    with pytest.raises(jwt.TokenError, match="writer"):
        jwt.permissions(["bizoholic"], "writer")  # Temporal knows "write"; "writer" would map to no role
    with pytest.raises(AnsibleFilterError, match="no namespace"):
        f.temporal_token_permissions(NAMESPACES, "billing")


# ---------------------------------------------------------------- the module
def run_module(args: dict, capsys, check: bool = False, diff: bool = False) -> dict:
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        temporal_token.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def args(tmp_path, key):
    key_path = tmp_path / "jwt.key"
    key_path.write_bytes(pem_private(key))
    return {
        "path": str(tmp_path / "tokens" / "bizoholic.jwt"),
        "private_key_path": str(key_path),
        "subject": "bizosaas:bizoholic",
        "namespaces": ["bizoholic"],
        "valid_days": 365,
        "renew_days": 30,
    }


def test_module_check_mode_writes_nothing(args, capsys):
    out = run_module(args, capsys, check=True, diff=True)
    assert out["changed"] and out["reason"] == "no token yet"
    assert out["diff"] == {"before": "token: absent (no token yet)\n", "after": out["diff"]["after"]}
    assert out["diff"]["after"].startswith("token: new, expires ")
    assert not os.path.exists(args["path"])


def test_module_writes_a_private_token_once_then_keeps_it(args, capsys, key):
    first = run_module(args, capsys)
    assert first["changed"] and first["kid"] == jwt.key_id(key.public_key())
    st = os.stat(args["path"])
    assert stat.S_IMODE(st.st_mode) == 0o600 and stat.S_IMODE(os.stat(os.path.dirname(args["path"])).st_mode) == 0o700
    token = Path(args["path"]).read_text().strip()
    assert token not in json.dumps(first)
    payload = jwt.verify(token, f.temporal_jwks(pem_public(key).decode()))
    assert payload["permissions"] == ["bizoholic:write"] and payload["exp"] - payload["iat"] == 365 * DAY
    again = run_module(args, capsys)
    assert not again["changed"] and again["reason"] == "" and again["expires"] == payload["exp"]
    assert Path(args["path"]).read_text().strip() == token


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"namespaces": ["bizoholic", "bizoholic-batch"]}, "permissions differ"),
        ({"subject": "bizosaas:other"}, "subject"),
        ({"role": "read"}, "permissions differ"),
    ],
)
def test_module_signs_again_when_the_claims_change(args, capsys, change, reason):
    run_module(args, capsys)
    out = run_module({**args, **change}, capsys)
    assert out["changed"] and reason in out["reason"]


def test_module_signs_again_with_a_new_key_and_when_due(args, capsys, tmp_path, monkeypatch):
    run_module(args, capsys)
    new_key = tmp_path / "new.key"
    new_key.write_bytes(pem_private(ec.generate_private_key(ec.SECP256R1())))
    out = run_module({**args, "private_key_path": str(new_key)}, capsys)
    assert out["changed"] and "another key" in out["reason"]
    # 340 days later a 365-day token has 25 days left, under renew_days 30
    later = time.time() + 340 * DAY
    monkeypatch.setattr(temporal_token.time, "time", lambda: later)
    out = run_module({**args, "private_key_path": str(new_key)}, capsys)
    assert out["changed"] and out["reason"] == "it is due for renewal"


def test_module_refuses_renewal_longer_than_validity_and_a_bad_key(args, capsys, tmp_path):
    out = run_module({**args, "valid_days": 30, "renew_days": 30}, capsys)
    assert out["failed"] and "renew_days (30) must be" in out["msg"]
    bad = tmp_path / "rsa.key"
    bad.write_bytes(pem_private(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    out = run_module({**args, "private_key_path": str(bad)}, capsys)
    assert out["failed"] and "P-256" in out["msg"]
    out = run_module({**args, "namespaces": ["temporal-system"]}, capsys)
    assert out["failed"] and "cluster-wide" in out["msg"]


# ---------------------------------------------------------------- glue filters
def test_dev_instances_one_per_platform_on_its_own_networks():
    ns = [*NAMESPACES, {"name": "bizoholic-batch", "platform": "bizoholic"}]
    got = f.temporal_platforms(ns, "bizosaas-shared_temporal", "temporal_data")
    assert [i["platform"] for i in got] == ["bizoholic", "coreldove", "management"]
    assert got[0] == {
        "platform": "bizoholic",
        "service": "bizosaas-shared_temporal-bizoholic",
        "volume": "temporal_data_bizoholic",
        "network": "bizosaas-bizoholic",
        "edge_network": "bizosaas-bizoholic-edge",
        "namespaces": ["bizoholic", "bizoholic-batch"],
        "ui_path": "/bizoholic",
    }
    assert f.temporal_platforms([], "s", "v") == []
    with pytest.raises(AnsibleFilterError, match=r"temporal_namespaces\[0\].platform"):
        f.temporal_platforms([{"name": "orphan"}], "s", "v")
    with pytest.raises(AnsibleFilterError, match="edge_network_suffix is empty"):
        f.temporal_platforms(NAMESPACES, "s", "v", "bizosaas-", "")


def test_platform_errors_name_the_variable():
    assert f.temporal_platform_errors(NAMESPACES) == []
    errs = f.temporal_platform_errors([{"name": "x", "platform": "Bad Name"}], "", 30, 30)
    assert len(errs) == 3
    assert errs[0].startswith("temporal_namespaces[0].platform: 'Bad Name' is not a platform name")
    assert errs[1].startswith("temporal_platform_edge_network_suffix")
    assert errs[2].startswith("temporal_token_renew_days (30) must be less than temporal_token_days (30)")


def test_addresses_token_secrets_and_ui_routes_per_mode():
    svc, gw = "bizosaas-shared_temporal", "bizosaas-shared_temporal-gateway"
    assert f.temporal_addresses(NAMESPACES, "dev", svc, gw) == {
        "bizoholic": "bizosaas-shared_temporal-bizoholic:7233",
        "coreldove": "bizosaas-shared_temporal-coreldove:7233",
        "management": "bizosaas-shared_temporal-management:7233",
    }
    assert set(f.temporal_addresses(NAMESPACES, "server", svc, gw).values()) == {f"{gw}:7233"}
    assert f.temporal_token_secrets(NAMESPACES, "dev", "bizosaas-shared") == {}
    assert f.temporal_token_secrets(NAMESPACES, "server", "bizosaas-shared")["coreldove"] == (
        "bizosaas-shared_temporal_token_coreldove"
    )
    assert f.temporal_ui_routes(NAMESPACES[:2], "dev", svc, "ui") == [
        {"path": "/bizoholic", "url": "http://bizosaas-shared_temporal-bizoholic:8233"},
        {"path": "/coreldove", "url": "http://bizosaas-shared_temporal-coreldove:8233"},
    ]
    assert f.temporal_ui_routes(NAMESPACES, "server", svc, "bizosaas-shared_temporal-ui") == [
        {"path": "", "url": "http://bizosaas-shared_temporal-ui:8080"}
    ]
    with pytest.raises(AnsibleFilterError, match="temporal_mode"):
        f.temporal_addresses(NAMESPACES, "prod", svc, gw)


def test_rolling_current_picks_the_highest_version():
    names = [
        "x_temporal_token_bizoholic_v2",
        "x_temporal_token_bizoholic_v10",
        "x_temporal_token_bizoholic_v9",
        "x_temporal_token_bizoholic_v3x",
        "x_temporal_token_coreldove_v11",
    ]
    assert (
        docker_filters.docker_rolling_current(names, "x_temporal_token_bizoholic") == "x_temporal_token_bizoholic_v10"
    )
    with pytest.raises(AnsibleFilterError, match="x_temporal_token_management_v<N>"):
        docker_filters.docker_rolling_current(names, "x_temporal_token_management")
