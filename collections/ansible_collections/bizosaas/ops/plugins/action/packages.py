"""Controller half of bizosaas.ops.packages: install Debian packages only when one is missing.

One read of dpkg's database decides. A converged host costs that read and nothing else: no apt
index refresh, no apt module run. When something is missing the index is refreshed first (always
when the image shipped without lists, else when older than cache_valid_time), then apt installs
only the missing names. Check mode on a host without package lists says what it would do instead of
failing to resolve names it cannot see yet.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

PROBE = (
    'dpkg-query --show --showformat="\\${Package}\\t\\${db:Status-Status}\\n" "$@" 2>/dev/null; '
    "if ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then echo '#lists yes'; else echo '#lists no'; fi"
)


def missing_from(stdout: str, names: list[str]) -> tuple[list[str], bool]:
    """(names not installed, whether apt has package lists) from PROBE's output."""
    installed = set()
    lists = False
    for line in stdout.splitlines():
        if line.startswith("#lists "):
            lists = line.endswith("yes")
            continue
        pkg, _, status = line.partition("\t")
        if status.strip() == "installed":
            installed.add(pkg.split(":")[0])
    return [n for n in names if n not in installed], lists


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "cache_valid_time", "install_recommends"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        names = self._task.args.get("name") or []
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise AnsibleActionFail("bizosaas.ops.packages: name must be a list of package names")
        if not names:
            result.update(changed=False, msg="no packages asked for")
            return result
        # The read runs in check mode too (the command module would skip itself there).
        check_mode, self._task.check_mode = self._task.check_mode, False
        try:
            probe = self._execute_module(
                module_name="ansible.legacy.command",
                module_args={"argv": ["sh", "-c", PROBE, "sh", *names]},
                task_vars=task_vars,
            )
        finally:
            self._task.check_mode = check_mode
        if probe.get("failed"):
            raise AnsibleActionFail(f"bizosaas.ops.packages: reading dpkg's database failed: {probe.get('msg')}")
        missing, lists = missing_from(probe.get("stdout", ""), names)
        if not missing:
            result.update(changed=False, msg=f"all {len(names)} packages are installed")
            return result
        if probe.get("skipped") or "#lists " not in probe.get("stdout", ""):
            raise AnsibleActionFail(f"bizosaas.ops.packages: could not read dpkg's database: {probe}")
        if self._task.check_mode and not lists:
            result.update(changed=True, missing=missing,
                          msg=f"the apt cache is empty: would refresh it and install {', '.join(missing)}")
            return result
        apt = self._execute_module(
            module_name="ansible.legacy.apt",
            module_args={
                "name": missing,
                "state": "present",
                "update_cache": True,
                "cache_valid_time": int(self._task.args.get("cache_valid_time", 3600)) if lists else 0,
                "install_recommends": boolean(self._task.args.get("install_recommends", False), strict=False),
            },
            task_vars=task_vars,
        )
        apt["missing"] = missing
        result.update(apt)
        return result
