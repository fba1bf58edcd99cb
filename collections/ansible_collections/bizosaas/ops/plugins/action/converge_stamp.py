"""Controller half of bizosaas.ops.converge_stamp: digest the role's inputs, then run the module on the host."""

from __future__ import annotations

import hashlib
import json
import os
import re

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
DEFAULT_MAX_AGE = 86400  # seconds: every role re-asserts everything at least once a day
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: object, name: str) -> int:
    """90, '90s', '15m', '24h', '7d' -> seconds; anything else fails naming the variable."""
    m = _DURATION.match(str(value))
    if not m:
        raise AnsibleActionFail(
            f"{name} is {value!r}: give seconds or a duration such as 30m, 24h or 7d (0 = no limit)")
    return int(m.group(1)) * _UNITS[m.group(2)]


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


def role_variables(role_name: str, role_path: str, names: object) -> list[str]:
    """What a role reads: every variable named <role>_* (tests/unit/test_role_variables.py fails when
    a role reads any other variable than its own, facts and magic variables), plus every option of
    its argument_specs. Internal __<role>_* values are derived from these by the role's own files,
    which are digested as files."""
    prefix = f"{role_name}_"
    return sorted({n for n in names if isinstance(n, str) and n.startswith(prefix)} | set(spec_variables(role_path)))


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
    _VALID_ARGS = frozenset(("name", "state", "probes", "inputs", "fast", "always", "max_age", "dir"))

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
        for name in role_variables(role.get_name(), role_path, task_vars.keys()):
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
        # The switch is the fast path's own setting, read here rather than passed by each role (a role
        # reads only its own variables): the task argument, else bizosaas_fast_path, else on.
        fast = boolean(self._templar.template(args.get("fast", task_vars.get("bizosaas_fast_path", True))),
                       strict=False)
        if os.environ.get("BIZOSAAS_FAST_PATH"):  # the environment wins: CI turns it off for a whole run
            fast = boolean(os.environ["BIZOSAAS_FAST_PATH"], strict=False)
        # `always`: the comparison decides whether the work is needed at all (the AIDE baseline is
        # rebuilt only when packages or rules changed), so it is not a speed-up the switch turns off.
        if boolean(args.get("always", False), strict=False):
            fast = True
        if state == "check" and not fast:
            # Every task runs; the stamp from before this run must not outlive a failure of it.
            reason = "the fast path is off (bizosaas_fast_path / BIZOSAAS_FAST_PATH)"
            result.update(
                self._execute_module(
                    module_name="bizosaas.ops.converge_stamp",
                    module_args={"name": args.get("name"), "state": "invalidate", "inputs": {},
                                 **({"dir": args["dir"]} if args.get("dir") else {})},
                    task_vars=task_vars,
                )
            )
            result.update(changed=False, fresh=False, reasons=[reason])
            result["msg"] = "full converge: " + result["reasons"][0]
            return result
        if "max_age" in args:  # the role's own rule (aide_seal: never by age)
            max_age = args["max_age"]
        else:
            max_age = os.environ.get("BIZOSAAS_FAST_PATH_MAX_AGE") or self._templar.template(
                task_vars.get("bizosaas_fast_path_max_age", DEFAULT_MAX_AGE))
        module_args = {
            "name": args.get("name"),
            "state": state,
            "inputs": self.input_digests(task_vars, args.get("inputs") or {}),
            "probes": args.get("probes") or {},
            "max_age": seconds(max_age, "bizosaas_fast_path_max_age"),
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
