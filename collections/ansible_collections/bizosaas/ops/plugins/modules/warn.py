#!/usr/bin/python
"""Documentation stub: bizosaas.ops.warn runs entirely on the controller (plugins/action/warn.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: warn
short_description: Report a problem as an Ansible warning, or fail with it
description:
  - Shows O(msg) as a C([WARNING]) line (the result's C(warnings)), which every callback prints and which
    does not scroll by like a C(debug) message. Never changes anything.
  - With O(fail=true) the task fails with O(msg) instead: the same check can be a warning by default and
    an error where the operator asks for it (for example C(postgres_unknown_superusers=fail)).
options:
  msg: {description: What is wrong, and what to do about it, type: str, required: true}
  fail: {description: Fail the task with O(msg) instead of warning, type: bool, default: false}
attributes:
  check_mode: {support: full}
  diff_mode: {support: none}
  idempotent: {support: full}
"""

EXAMPLES = r"""
- name: Report superuser roles nobody declared
  bizosaas.ops.warn:
    msg: "unknown superusers: {{ unknown | join(', ') }}"
    fail: "{{ postgres_unknown_superusers == 'fail' }}"
  when: unknown | length > 0
"""

RETURN = r"""
msg: {description: The message, type: str, returned: always}
"""
