"""The connection options every bizosaas.ops.dokploy_* module shares (module_utils/dokploy_api.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Dokploy's base URL as seen from the host the module runs on (the VPS).
      - The modules call C(<api_url>/api/<router>.<procedure>), Dokploy's REST API (trpc-openapi).
    type: str
    default: http://127.0.0.1:3000
  api_key:
    description:
      - A Dokploy API key, sent as the C(x-api-key) header and never logged or printed.
      - When unset, the key is read on the host from O(api_key_file).
    type: str
  api_key_file:
    description:
      - File on the host holding the API key (one line), written 0600 by M(bizosaas.ops.dokploy_owner).
    type: path
    default: /var/lib/bizosaas-ops/dokploy/api-key
  timeout:
    description: Seconds to wait for one HTTP answer.
    type: int
    default: 30
  startup_wait:
    description:
      - Seconds to keep retrying while Dokploy is starting (connection refused, HTTP 502 or 503).
      - Nothing else is retried. V(0) fails on the first refusal.
    type: int
    default: 60
notes:
  - Runs on the Dokploy host and needs only Python's standard library (no C(requests)).
  - Errors name the endpoint and what to do; HTTP 401 or 403 names O(api_key_file) and how the dokploy role
    recreates the key. The key never appears in a message.
"""
