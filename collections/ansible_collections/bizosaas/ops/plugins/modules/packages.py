#!/usr/bin/python
"""Documentation stub: bizosaas.ops.packages is an action plugin (plugins/action/packages.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: packages
short_description: Install Debian packages, touching apt only when one is missing
description:
  - Reads dpkg's database once. When every package in O(name) is installed it reports C(ok) and does
    nothing else, so a converged host never refreshes the apt index or waits on apt.
  - When some are missing it refreshes the index (always when the host has no package lists, as fresh
    images and VPSes often do, else when older than O(cache_valid_time)) and installs only those, with
    C(ansible.builtin.apt).
  - In check mode on a host with no package lists it reports what it would install (C(changed)) instead of
    failing on names apt cannot resolve yet.
  - Each role installs its own packages with it: there is no shared "packages read once per run" state.
options:
  name: {description: Debian package names, type: list, elements: str, required: true}
  cache_valid_time: {description: Seconds an existing apt index counts as fresh, type: int, default: 3600}
  install_recommends: {description: Install recommended packages too, type: bool, default: false}
attributes:
  check_mode: {support: full}
  diff_mode: {support: none}
  idempotent: {support: full}
"""

EXAMPLES = r"""
- name: Ensure the Postgres client library is installed
  bizosaas.ops.packages:
    name: [python3-psycopg2]
"""

RETURN = r"""
missing:
  description: The packages that were not installed
  type: list
  elements: str
  returned: when some were missing
"""
