#!/usr/bin/python
"""Keep a platform's Temporal access token (an ES256 JWT scoped to its namespaces) in a file on the host."""

from __future__ import annotations

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.bizosaas.ops.plugins.module_utils import temporal_jwt as jwt

DOCUMENTATION = r"""
module: temporal_token
short_description: Keep a Temporal access token (ES256 JWT, permissions for one platform's namespaces) on the host
description:
  - Signs a JWT for Temporal's built-in authorization (default JWT ClaimMapper and Authorizer) with the
    EC P-256 key in O(private_key_path), header C(kid) = the key's RFC 7638 thumbprint (the C(kid) of the
    JWKS the server reads), claims C(iss), C(sub), C(permissions) (C(<namespace>:<role>) for each of
    O(namespaces)), C(iat), C(nbf) and C(exp).
  - Writes it to O(path) (0600, root; directory 0700) and keeps it as long as it verifies against the
    current key, has the wanted subject and permissions and is valid for more than O(renew_days). So a rerun
    changes nothing, and a new key, another namespace list or an expiry close enough signs a new token.
  - The token is never returned or logged; read it on the host (C(docker_secret data_src)).
version_added: 0.1.0
author: bizosaas-ops
requirements: [cryptography (python3-cryptography)]
options:
  path: {description: The token file on the host., type: path, required: true}
  private_key_path:
    description: The PEM EC P-256 signing key on the host (community.crypto.openssl_privatekey).
    type: path
    required: true
  subject: {description: The token's C(sub) claim (Temporal's claim mapper requires one)., type: str, required: true}
  namespaces: {description: The namespaces the token may use., type: list, elements: str, required: true}
  role:
    description: The role in each namespace; write starts and runs workflows, read only reads.
    type: str
    choices: [read, write, worker, admin]
    default: write
  valid_days: {description: Validity of a new token in days., type: int, default: 365}
  renew_days: {description: A token valid for less than this many days is signed again., type: int, default: 30}
attributes:
  check_mode: {support: full, description: Reports whether a new token would be signed; writes nothing.}
  diff_mode: {support: full, description: The reason and the expiry dates, never the token.}
  idempotent: {support: full}
"""

EXAMPLES = r"""
- name: Keep bizoholic's Temporal token
  bizosaas.ops.temporal_token:
    path: /var/lib/bizosaas-ops/temporal/tokens/bizoholic.jwt
    private_key_path: /var/lib/bizosaas-ops/temporal/jwt.key
    subject: bizosaas:bizoholic
    namespaces: [bizoholic]
  no_log: true
"""

RETURN = r"""
reason:
  description: Why a new token was (or would be) signed; empty when the existing one was kept.
  type: str
  returned: always
kid: {description: The signing key's id., type: str, returned: always}
expires: {description: Expiry of the token now in the file (epoch seconds)., type: int, returned: always}
"""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def _write_private(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".token-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(module: AnsibleModule, now: int | None = None) -> dict:
    p = module.params
    now = int(time.time()) if now is None else now
    if p["valid_days"] < 1 or p["renew_days"] < 0 or p["renew_days"] >= p["valid_days"]:
        module.fail_json(
            msg=f"temporal_token: renew_days ({p['renew_days']}) must be at least 0 and less than "
            f"valid_days ({p['valid_days']}), or every run would sign a new token"
        )
    try:
        with open(p["private_key_path"], "rb") as fh:
            key = jwt.load_private_key(fh.read())
    except OSError as exc:
        module.fail_json(msg=f"temporal_token: cannot read the signing key {p['private_key_path']}: {exc.strerror}")
    except jwt.TokenError as exc:
        module.fail_json(msg=f"temporal_token: {p['private_key_path']}: {exc}")
    try:
        perms = jwt.permissions(p["namespaces"], p["role"])
    except jwt.TokenError as exc:
        module.fail_json(msg=f"temporal_token: {exc}")
    public_key = key.public_key()
    current = _read(p["path"])
    reason = jwt.renewal_reason(current, public_key, p["subject"], perms, p["renew_days"] * 86400, now)
    result = {"changed": bool(reason), "reason": reason, "kid": jwt.key_id(public_key)}
    if not reason:
        result["expires"] = jwt.verify(current or "", public_key, now)["exp"]
        return result
    payload = jwt.claims(p["subject"], perms, now, p["valid_days"] * 86400)
    result["expires"] = payload["exp"]
    if module._diff:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(payload["exp"]))
        result["diff"] = {
            "before": f"token: {'present' if current else 'absent'} ({reason})\n",
            "after": f"token: new, expires {when}\n",
        }
    if not module.check_mode:
        _write_private(p["path"], jwt.sign(key, payload))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "private_key_path": {"type": "path", "required": True, "no_log": False},
            "subject": {"type": "str", "required": True},
            "namespaces": {"type": "list", "elements": "str", "required": True},
            "role": {"type": "str", "choices": list(jwt.ROLES), "default": "write"},
            "valid_days": {"type": "int", "default": 365},
            "renew_days": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    if not jwt.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography (apt install python3-cryptography)"))
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
