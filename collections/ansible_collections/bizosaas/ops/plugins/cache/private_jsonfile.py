# bizosaas-ops: the fact cache, private to its owner (issue 16).
from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.cache.jsonfile import CacheModule as JsonFileCache

DOCUMENTATION = r"""
name: private_jsonfile
short_description: ansible-core's jsonfile fact cache, private to its owner, never holding shadow data
description:
  - The same per-host JSON files as C(ansible.builtin.jsonfile), but the directory is 0700 and every file
    0600 (ansible-core creates them with the umask and 0644), so another local user of the controller
    cannot read the cached facts of the fleet.
  - Facts from the shadow database (C(getent_shadow), set by C(ansible.builtin.getent database=shadow)) are
    never written to disk, whoever gathered them.
options:
  _uri:
    required: true
    description: Directory of the JSON files (created 0700; an existing one is set to 0700).
    env:
      - name: ANSIBLE_CACHE_PLUGIN_CONNECTION
    ini:
      - key: fact_caching_connection
        section: defaults
    type: path
  _prefix:
    description: Prefix of the file names.
    env:
      - name: ANSIBLE_CACHE_PLUGIN_PREFIX
    ini:
      - key: fact_caching_prefix
        section: defaults
  _timeout:
    default: 86400
    description: Seconds a host's cached facts stay valid.
    env:
      - name: ANSIBLE_CACHE_PLUGIN_TIMEOUT
    ini:
      - key: fact_caching_timeout
        section: defaults
    type: integer
"""

# Fact names whose values never reach the disk.
NEVER_CACHED = ("getent_shadow", "getent_gshadow")


def scrub(value: Any) -> Any:
    """The host's facts without the shadow databases (top level and under ansible_facts).

    ansible-core >= 2.19 hands a cache plugin {"__payload__": "<the facts as JSON>"}: the payload is
    decoded, scrubbed and encoded again.
    """
    if not isinstance(value, dict):
        return value
    if set(value) == {"__payload__"} and isinstance(value["__payload__"], str):
        return {"__payload__": json.dumps(scrub(json.loads(value["__payload__"])))}
    out = {k: v for k, v in value.items() if k not in NEVER_CACHED and k not in {f"ansible_{n}" for n in NEVER_CACHED}}
    if isinstance(out.get("ansible_facts"), dict):
        out["ansible_facts"] = scrub(out["ansible_facts"])
    return out


class CacheModule(JsonFileCache):
    """jsonfile, with a 0700 directory, 0600 files, and no shadow data."""

    def validate_cache_connection(self) -> None:
        if self._cache_dir and not os.path.exists(self._cache_dir):
            os.makedirs(self._cache_dir, mode=0o700, exist_ok=True)
        super().validate_cache_connection()
        os.chmod(self._cache_dir, 0o700)

    def _dump(self, value: object, filepath: str) -> None:
        # mkstemp made filepath 0600; the base class chmods the renamed file to 0644 afterwards,
        # which set() below undoes.
        super()._dump(scrub(value), filepath)

    def set(self, key: str, value: Any) -> None:
        super().set(key, value)
        # the in-memory copy keeps everything for this run; only the disk copy is scrubbed
        cachefile = self._get_cache_file_name(key)
        if os.path.exists(cachefile):
            os.chmod(cachefile, 0o600)
