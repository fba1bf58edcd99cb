"""Controller half of bizosaas.ops.converge_stamp: digest the role's inputs, then run the module on the host."""

from __future__ import annotations

import hashlib
import json
import os

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

PLUGINS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Facts that change what a role renders without being one of its variables.
FACTS = (
    "distribution",
    "distribution_major_version",
    "distribution_release",
    "architecture",
    "os_family",
    "memtotal_mb",
    "processor_vcpus",
)
_UNDEFINED = "<undefined>"


def _sha(data: object) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def tree_digest(root: str) -> str:
    """One digest of every file under root that can change what the role does (docs and caches excluded)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("__pycache__", "molecule"))
        for fname in sorted(filenames):
            if fname.endswith((".md", ".pyc")) or fname.startswith("."):
                continue
            path = os.path.join(dirpath, fname)
            h.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def spec_variables(role_path: str) -> list[str]:
    """Every option of every entry point in the role's meta/argument_specs.yml."""
    path = os.path.join(role_path, "meta", "argument_specs.yml")
    try:
        with open(path, encoding="utf-8") as fh:
            specs = (yaml.safe_load(fh) or {}).get("argument_specs") or {}
    except OSError as exc:
        raise AnsibleActionFail(f"converge_stamp: cannot read {path}: {exc}") from exc
    names: set[str] = set()
    for entry in specs.values():
        names.update((entry or {}).get("options") or {})
    return sorted(names)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "state", "probes", "inputs", "fast", "dir"))

    def _value_digest(self, value: object) -> str:
        try:
            return _sha(self._templar.template(value))
        except Exception:  # an undefined or failing template is an input state of its own
            return _sha(_UNDEFINED)

    def input_digests(self, task_vars: dict, extra: dict) -> dict[str, str]:
        role = self._task._role
        if role is None:
            raise AnsibleActionFail("converge_stamp runs inside a role: it digests the role's files and variables")
        role_path = role._role_path
        digests = {"role files": tree_digest(role_path), "collection plugins": tree_digest(PLUGINS_DIR)}
        for name in spec_variables(role_path):
            digests[f"var {name}"] = self._value_digest(task_vars[name]) if name in task_vars else _sha(_UNDEFINED)
        facts = task_vars.get("ansible_facts") or {}
        digests["facts"] = _sha({k: facts.get(k) for k in FACTS})
        for key, value in (extra or {}).items():
            digests[f"input {key}"] = _sha(value)
        return digests

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        state = args.get("state", "check")
        fast = boolean(args.get("fast", True), strict=False)
        if os.environ.get("BIZOSAAS_FAST_PATH"):  # the environment wins: CI turns it off for a whole run
            fast = boolean(os.environ["BIZOSAAS_FAST_PATH"], strict=False)
        if state == "check" and not fast:
            reason = "the fast path is off (bizosaas_fast_path / BIZOSAAS_FAST_PATH)"
            result.update(changed=False, fresh=False, reasons=[reason])
            result["msg"] = "full converge: " + result["reasons"][0]
            return result
        module_args = {
            "name": args.get("name"),
            "state": state,
            "inputs": self.input_digests(task_vars, args.get("inputs") or {}),
            "probes": args.get("probes") or {},
        }
        if args.get("dir"):
            module_args["dir"] = args["dir"]
        result.update(
            self._execute_module(
                module_name="bizosaas.ops.converge_stamp", module_args=module_args, task_vars=task_vars
            )
        )
        if state == "check" and not result.get("failed"):
            result["changed"] = False
            result["msg"] = (
                "fresh: inputs and host match the last converge, its tasks are skipped"
                if result.get("fresh")
                else "full converge: " + "; ".join(result.get("reasons") or [])
            )
        return result
