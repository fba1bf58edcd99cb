"""ES256 JSON Web Tokens for Temporal's built-in authorization (default JWT ClaimMapper and Authorizer).

What the Temporal server (1.2x, `common/authorization`) expects, and what this file produces:
- the key provider fetches a JWKS over http(s) (`keySourceURIs`) and keeps its RSA and EC keys by
  `kid`; it accepts RS256 and ES256 only, and a token without a `kid` header is refused;
- the default ClaimMapper reads `Authorization: Bearer <jwt>`, verifies it, requires a string `sub`
  and reads the permissions claim (`permissionsClaimName`, default `permissions`): a list of
  `<namespace>:<role>` strings, role one of read, write, worker, admin; `temporal-system:<role>` is
  a cluster-wide role;
- the default Authorizer allows a namespace API when the caller's role in that namespace (or its
  system role) is at least the API's access level (read-only APIs: read, others: write,
  operator/admin APIs: admin).

So a token whose permissions are only `bizoholic:write` can do nothing in another namespace.

Needs `cryptography` (python3-cryptography on the host; the controller's venv has it). Keys are
P-256; ES256 signatures are the raw 64-byte r||s form JWS uses, not DER.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - the module reports it with missing_required_lib
    HAS_CRYPTOGRAPHY = False

ALG = "ES256"
CURVE = "P-256"
ISSUER = "bizosaas-ops"
SYSTEM_NAMESPACE = "temporal-system"
# Temporal's permissionToRole (default_jwt_claim_mapper.go): anything else maps to no role.
ROLES = ("read", "write", "worker", "admin")
_COORD = 32  # bytes of a P-256 coordinate and of r and s


class TokenError(ValueError):
    """A key or token that cannot be used; the message never contains key material or a token."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise TokenError(f"not base64url: {exc}") from None


def _pem(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def load_private_key(pem: str | bytes | ec.EllipticCurvePrivateKey) -> ec.EllipticCurvePrivateKey:
    key: Any = pem
    if not isinstance(pem, ec.EllipticCurvePrivateKey):
        try:
            key = serialization.load_pem_private_key(_pem(pem), password=None)
        except (ValueError, TypeError) as exc:
            raise TokenError(f"the signing key is not an unencrypted PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise TokenError("the signing key must be an EC P-256 (secp256r1) key for ES256")
    return key


def load_public_key(pem: str | bytes | ec.EllipticCurvePublicKey) -> ec.EllipticCurvePublicKey:
    key: Any = pem
    if not isinstance(pem, ec.EllipticCurvePublicKey):
        try:
            key = serialization.load_pem_public_key(_pem(pem))
        except (ValueError, TypeError) as exc:
            raise TokenError(f"not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise TokenError("the public key must be an EC P-256 (secp256r1) key for ES256")
    return key


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The RFC 7518 EC public JWK members (kty, crv, x, y)."""
    nums = key.public_numbers()
    return {
        "kty": "EC",
        "crv": CURVE,
        "x": b64url(nums.x.to_bytes(_COORD, "big")),
        "y": b64url(nums.y.to_bytes(_COORD, "big")),
    }


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 thumbprint of the key: a new key gets a new `kid`, the same key always the same."""
    canonical = json.dumps(public_jwk(key), sort_keys=True, separators=(",", ":")).encode()
    return b64url(hashlib.sha256(canonical).digest())


def jwks(public_pems: str | bytes | Sequence[str | bytes]) -> dict[str, Any]:
    """A JWKS (`{"keys": [...]}`) with one signing key per PEM, as Temporal's key provider reads it."""
    pems = [public_pems] if isinstance(public_pems, str | bytes) else list(public_pems)
    keys = []
    for pem in pems:
        key = load_public_key(pem)
        keys.append({**public_jwk(key), "kid": key_id(key), "use": "sig", "alg": ALG})
    return {"keys": keys}


def permissions(namespaces: Sequence[str], role: str) -> list[str]:
    """`<namespace>:<role>` for each namespace, in Temporal's default claim format."""
    if role not in ROLES:
        raise TokenError(f"role {role!r} is not one Temporal's claim mapper knows ({', '.join(ROLES)})")
    out = []
    for ns in namespaces:
        if not isinstance(ns, str) or not ns or ":" in ns:
            raise TokenError(f"namespace {ns!r} cannot be put in a permission")
        if ns == SYSTEM_NAMESPACE:
            raise TokenError(f"{SYSTEM_NAMESPACE!r} would give a cluster-wide role, not a namespace role")
        out.append(f"{ns}:{role}")
    return out


def claims(subject: str, perms: Sequence[str], now: int, valid_seconds: int, issuer: str = ISSUER) -> dict[str, Any]:
    if not subject:
        raise TokenError("a token needs a subject (Temporal's claim mapper refuses a token without `sub`)")
    if valid_seconds <= 0:
        raise TokenError("a token must be valid for a positive time")
    return {
        "iss": issuer,
        "sub": subject,
        "permissions": list(perms),
        "iat": now,
        "nbf": now,
        "exp": now + valid_seconds,
    }


def sign(private_pem: str | bytes | ec.EllipticCurvePrivateKey, payload: Mapping[str, Any]) -> str:
    """A compact JWS (header.payload.signature) signed with ES256, its `kid` the key's thumbprint."""
    key = load_private_key(private_pem)
    header = {"alg": ALG, "typ": "JWT", "kid": key_id(key.public_key())}
    signing_input = ".".join(
        b64url(json.dumps(part, sort_keys=True, separators=(",", ":")).encode()) for part in (header, payload)
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(_COORD, 'big') + s.to_bytes(_COORD, 'big'))}"


def _jwk_public_key(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != CURVE:
        raise TokenError(f"JWK {jwk.get('kid')!r} is not an EC {CURVE} key")
    x, y = (int.from_bytes(b64url_decode(str(jwk[c])), "big") for c in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def verify(
    token: str, keys: Mapping[str, Any] | str | bytes | ec.EllipticCurvePublicKey, now: int | None = None
) -> dict[str, Any]:
    """The token's claims after checking what Temporal checks: alg ES256, a `kid` found in `keys`
    (a JWKS, or one PEM public key), the signature, `exp` and `nbf`. Raises TokenError otherwise."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise TokenError("not a compact JWS (three base64url parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except ValueError:
        raise TokenError("header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise TokenError("header and payload must be JSON objects")
    if header.get("alg") != ALG:
        raise TokenError(f"unexpected signing algorithm {header.get('alg')!r} (want {ALG})")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TokenError('malformed token: no "kid" header')
    if not isinstance(keys, Mapping):
        key = load_public_key(keys)
        if key_id(key) != kid:
            raise TokenError("the token was signed by another key (its kid is not this key's)")
    else:
        found = [k for k in keys.get("keys") or [] if k.get("kid") == kid]
        if not found:
            raise TokenError("no key in the JWKS has the token's kid")
        key = _jwk_public_key(found[0])
    sig = b64url_decode(parts[2])
    if len(sig) != 2 * _COORD:
        raise TokenError("an ES256 signature is 64 bytes")
    der = encode_dss_signature(int.from_bytes(sig[:_COORD], "big"), int.from_bytes(sig[_COORD:], "big"))
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise TokenError("the signature does not verify") from None
    now = int(time.time()) if now is None else now
    exp, nbf = payload.get("exp"), payload.get("nbf", 0)
    if not isinstance(exp, int) or exp <= now:
        raise TokenError("the token has expired (or has no exp)")
    if not isinstance(nbf, int) or nbf > now:
        raise TokenError("the token is not valid yet")
    return payload


def renewal_reason(
    token: str | None,
    public_pem: str | bytes | ec.EllipticCurvePublicKey,
    subject: str,
    perms: Sequence[str],
    renew_seconds: int,
    now: int,
    issuer: str = ISSUER,
) -> str:
    """Why a token must be signed again ("" when the existing one is still right): missing, signed by
    another key, expired or due within `renew_seconds`, or claims that differ from the wanted ones."""
    if not token:
        return "no token yet"
    try:
        payload = verify(token.strip(), public_pem, now)
    except TokenError as exc:
        return str(exc)
    if payload.get("sub") != subject or payload.get("iss") != issuer:
        return "its subject or issuer differs"
    if sorted(payload.get("permissions") or []) != sorted(perms):
        return "its permissions differ"
    if payload["exp"] - now <= renew_seconds:
        return "it is due for renewal"
    return ""
