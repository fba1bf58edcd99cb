#!/usr/bin/python
"""First boot of Dokploy: create the owner account, and keep a working API key for the toolkit on the host."""

from __future__ import annotations

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bizosaas.ops.plugins.module_utils.dokploy_api import (
    DokployClient,
    DokployError,
    argument_spec,
    read_key_file,
    write_key_file,
)

DOCUMENTATION = r"""
module: dokploy_owner
short_description: Create Dokploy's owner on first boot and keep the toolkit's API key on the host
description:
  - With a key in O(api_key_file) that Dokploy accepts, only checks it (one C(GET /api/user.get)) and changes
    nothing.
  - Otherwise, when Dokploy has no owner yet (C(GET /register) answers 200 instead of redirecting), creates the
    owner with Dokploy's own sign-up endpoint C(POST /api/auth/sign-up/email). Dokploy refuses every later
    sign-up without an invitation ("Admin is already created"), so registration is closed from then on.
  - When the owner exists but the key is missing, wrong or revoked, signs in as the owner
    (C(POST /api/auth/sign-in/email)) and creates a new key.
  - The key is created with C(POST /api/user.createApiKey) for the owner's organization
    (C(metadata.organizationId)) with C(rateLimitEnabled=false), because a key created with Dokploy's defaults
    allows 10 requests a day. It is checked, written to O(api_key_file) (0600, directory 0700), and older keys
    named O(key_name) are deleted.
  - The password and the key are never logged or printed.
version_added: 0.1.0
author: bizosaas-ops
options:
  api_url:
    description: Dokploy's base URL as seen from the host the module runs on.
    type: str
    default: http://127.0.0.1:3000
  api_key_file:
    description: Where the toolkit's API key lives on the host (written 0600, root).
    type: path
    default: /var/lib/bizosaas-ops/dokploy/api-key
  email:
    description: The owner's email (from the vault).
    type: str
    required: true
  password:
    description: The owner's password (from the vault), 8 to 128 characters.
    type: str
    required: true
  name:
    description: The owner's first name, shown in Dokploy's UI.
    type: str
    default: Owner
  last_name:
    description: The owner's last name.
    type: str
    default: ""
  key_name:
    description: Name of the toolkit's API key in Dokploy (at most 32 characters).
    type: str
    default: bizosaas-ops
  timeout:
    description: Seconds to wait for one HTTP answer.
    type: int
    default: 30
  startup_wait:
    description: Seconds to keep retrying while Dokploy is starting (connection refused, HTTP 502 or 503).
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Checks the key and whether an owner exists; signs up, signs in and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - Dokploy answers the first sign-up only after looking up the server's public IP address; without internet
    access that takes about a minute, so the sign-up alone may wait up to 180 seconds.
  - Between Dokploy's first start and this module's sign-up, anyone who can reach Dokploy's port could register
    first. Keep the port closed to the outside until the owner exists; the module fails loudly if its sign-up is
    refused because someone else was first.
"""

EXAMPLES = r"""
- name: Ensure Dokploy's owner and the toolkit's API key
  bizosaas.ops.dokploy_owner:
    email: "{{ vault_dokploy_owner_email }}"
    password: "{{ vault_dokploy_owner_password }}"
    api_key_file: /var/lib/bizosaas-ops/dokploy/api-key
  no_log: true
"""

RETURN = r"""
owner_created:
  description: This run created the owner (or would, in check mode).
  type: bool
  returned: always
key_created:
  description: This run created a new API key and wrote it to O(api_key_file) (or would, in check mode).
  type: bool
  returned: always
key_file:
  description: The key file.
  type: str
  returned: always
organization_id:
  description: The owner's organization (the key's C(metadata.organizationId)); null in check mode when unknown.
  type: str
  returned: always
replaced_keys:
  description: How many older keys named O(key_name) were deleted.
  type: int
  returned: always
"""

REDIRECTS = (301, 302, 303, 307, 308)
# Dokploy's first sign-up looks up the server's public IP before it answers (databaseHooks.user.create.after,
# getPublicIpWithFallback): measured 61 s on a host without internet access, under a second with it.
SIGN_UP_TIMEOUT = 180


def check_key(client: DokployClient, key: str) -> dict | None:
    """The member record (organizationId, user) the key authenticates as; None when Dokploy refuses it."""
    client.api_key = key
    resp = client.request("GET", "user.get", accept=(401, 403))
    client.api_key = None
    if resp.status in (401, 403):
        return None
    return resp.data or {}


def owner_exists(client: DokployClient) -> bool:
    """Dokploy's /register page redirects once an owner exists (its getServerSideProps checks isAdminPresent)."""
    resp = client.request("GET", "/register", auth=False, follow_redirects=False, accept=REDIRECTS)
    if resp.status in REDIRECTS:
        return True
    if resp.status == 200:
        return False
    raise DokployError(f"Unexpected HTTP {resp.status} from GET /register while looking for Dokploy's owner.")


def _auth_message(resp: Any) -> str:
    data = resp.data if isinstance(resp.data, dict) else {}
    return str(data.get("message") or data.get("code") or resp.data or "no message")[:300]


def sign_up(client: DokployClient, p: dict[str, Any]) -> dict[str, str]:
    body = {"email": p["email"], "password": p["password"], "name": p["name"], "lastName": p["last_name"]}
    try:
        resp = client.request(
            "POST",
            "/api/auth/sign-up/email",
            body=body,
            auth=False,
            accept=(400, 401, 403, 422),
            timeout=max(client.timeout, SIGN_UP_TIMEOUT),
        )
    except DokployError as exc:
        # The owner may exist even though the answer never came: then signing in finds out whether it is ours.
        if exc.timed_out and owner_exists(client):
            return sign_in(client, p)
        raise
    if resp.status != 200:
        raise DokployError(
            f"Dokploy refused the owner's sign-up on POST /api/auth/sign-up/email (HTTP {resp.status}: "
            f"{_auth_message(resp)}). If it says the admin is already created, someone registered between this "
            "module's check and its sign-up: Dokploy's port was reachable before the owner existed. Check the "
            "users in Dokploy's UI before going on."
        )
    cookies = resp.cookies()
    return cookies or sign_in(client, p)


def sign_in(client: DokployClient, p: dict[str, Any]) -> dict[str, str]:
    body = {"email": p["email"], "password": p["password"]}
    resp = client.request("POST", "/api/auth/sign-in/email", body=body, auth=False, accept=(400, 401, 403))
    if resp.status != 200:
        raise DokployError(
            f"Dokploy's owner exists, but signing in with the vault's owner email and password failed on POST "
            f"/api/auth/sign-in/email (HTTP {resp.status}: {_auth_message(resp)}). The owner was created with "
            "other credentials (or the password was changed in the UI): put the real ones in the vault, or reset "
            "the password in Dokploy, then rerun."
        )
    cookies = resp.cookies()
    if not cookies:
        raise DokployError(
            "Dokploy accepted the owner's sign-in but set no session cookie (POST /api/auth/sign-in/email)."
        )
    return cookies


def create_key(client: DokployClient, cookies: dict[str, str], key_name: str) -> tuple[str, str, str, int]:
    """(key, key id, organization id, deleted older keys), as the signed-in owner."""
    member = client.request("GET", "user.get", cookies=cookies).data or {}
    organization_id = member.get("organizationId")
    if not organization_id:
        organizations = client.request("GET", "organization.all", cookies=cookies).data or []
        organization_id = organizations[0]["id"] if organizations else None
    if not organization_id:
        raise DokployError("Dokploy's owner belongs to no organization (GET /api/user.get); cannot create an API key.")
    created = (
        client.request(
            "POST",
            "user.createApiKey",
            body={"name": key_name, "metadata": {"organizationId": organization_id}, "rateLimitEnabled": False},
            cookies=cookies,
        ).data
        or {}
    )
    key, key_id = created.get("key"), created.get("id")
    if not key:
        raise DokployError("Dokploy's POST /api/user.createApiKey answered without a key.")
    if check_key(client, key) is None:
        raise DokployError("Dokploy refused the API key it had just created (GET /api/user.get).")
    old = [
        k.get("id")
        for k in (member.get("user") or {}).get("apiKeys") or []
        if k.get("name") == key_name and k.get("id") != key_id
    ]
    for old_id in old:
        client.request("POST", "user.deleteApiKey", body={"apiKeyId": old_id}, cookies=cookies, accept=(404,))
    return key, key_id, organization_id, len(old)


def run(module: AnsibleModule, client: DokployClient) -> dict[str, Any]:
    p = module.params
    result: dict[str, Any] = {
        "changed": False,
        "owner_created": False,
        "key_created": False,
        "key_file": p["api_key_file"],
        "organization_id": None,
        "replaced_keys": 0,
    }
    key = read_key_file(p["api_key_file"])
    if key:
        module.no_log_values.add(key)
        member = check_key(client, key)
        if member is not None:
            result["organization_id"] = member.get("organizationId")
            result["msg"] = f"the API key in {p['api_key_file']} works"
            return result
    has_owner = owner_exists(client)
    result["changed"] = True
    result["owner_created"] = not has_owner
    result["key_created"] = True
    why = "no key file" if not key else "the key in the file is refused"
    if module.check_mode:
        action = "sign up the owner" if not has_owner else "sign in as the owner"
        result["msg"] = f"would {action} and write a new API key to {p['api_key_file']} ({why})"
        return result
    cookies = sign_up(client, p) if not has_owner else sign_in(client, p)
    for value in cookies.values():
        module.no_log_values.add(value)
    new_key, _key_id, organization_id, replaced = create_key(client, cookies, p["key_name"])
    module.no_log_values.add(new_key)
    write_key_file(p["api_key_file"], new_key)
    result.update(organization_id=organization_id, replaced_keys=replaced)
    done = "created the owner and" if not has_owner else "signed in as the owner and"
    result["msg"] = f"{done} wrote a new API key (rate limiting off) to {p['api_key_file']} ({why})"
    return result


def main() -> None:
    spec = argument_spec()
    del spec["api_key"]
    spec.update(
        email={"type": "str", "required": True},
        password={"type": "str", "required": True, "no_log": True},
        name={"type": "str", "default": "Owner"},
        last_name={"type": "str", "default": ""},
        key_name={"type": "str", "default": "bizosaas-ops", "no_log": False},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if "@" not in p["email"] or len(p["email"]) < 3:
        module.fail_json(msg="email must be an email address (the Dokploy owner's login)")
    if not 8 <= len(p["password"]) <= 128:
        module.fail_json(msg="password must be 8 to 128 characters (Dokploy's sign-up limits)")
    if not 1 <= len(p["key_name"]) <= 32:
        module.fail_json(msg="key_name must be 1 to 32 characters (Dokploy's API key name limit)")
    directory = os.path.dirname(p["api_key_file"])
    if not module.check_mode and directory and os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg=f"{directory} exists and is not a directory: cannot write the key file there")
    try:
        client = DokployClient(
            url=p["api_url"], timeout=p["timeout"], startup_wait=p["startup_wait"], key_file=p["api_key_file"]
        )
        result = run(module, client)
    except DokployError as exc:
        module.fail_json(msg=exc.msg, status=exc.status, endpoint=exc.endpoint)
    except OSError as exc:
        module.fail_json(msg=f"Cannot write the API key to {p['api_key_file']}: {exc.strerror}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
