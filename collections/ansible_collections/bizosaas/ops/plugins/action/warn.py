"""Controller half of bizosaas.ops.warn: an Ansible warning (or, with fail, an error) from a task."""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("msg", "fail"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        msg = str(self._task.args.get("msg") or "").strip()
        if not msg:
            result.update(failed=True, msg="bizosaas.ops.warn: msg is required")
            return result
        if boolean(self._task.args.get("fail", False), strict=False):
            result.update(failed=True, changed=False, msg=msg)
            return result
        # A result's `warnings` are shown by every callback as [WARNING] and counted in the recap
        # output, unlike a debug message, which scrolls by.
        result.update(changed=False, msg=msg, warnings=[msg])
        return result
