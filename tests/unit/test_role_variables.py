"""One glue layer: a role reads only its own variables.

A role reads `<role>_*` (its inputs, typed in meta/argument_specs.yml), `__<role>_*` (its internal
values and registered results), Ansible's facts and magic variables, and nothing else. Only the glue,
`group_vars/all/*.yml`, maps the shared `bizosaas_*` settings onto role variables. This is what
makes the fast path's inputs complete: `bizosaas.ops.converge_stamp` digests every `<role>_*`
variable, so a value a role read from anywhere else (`bizosaas_registry` in a task file) could
change without the stamp noticing, and a converged host would never get it.

The check parses every Jinja expression in a role's tasks, handlers, defaults, vars and templates
(conditions as bare expressions) and names each variable read that breaks the rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jinja2 import Environment, meta

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())

# Ansible's magic variables and Jinja globals a role may read.
MAGIC = {
    "ansible_facts", "ansible_check_mode", "ansible_diff_mode", "inventory_hostname", "hostvars", "groups",
    "group_names", "role_path", "playbook_dir", "item", "ansible_play_hosts", "ansible_play_hosts_all",
    "ansible_play_batch", "ansible_connection", "ansible_host", "ansible_user", "ansible_port", "omit",
    "ansible_managed", "ansible_run_tags", "ansible_skip_tags", "ansible_loop", "ansible_version",
    "ansible_inventory_sources", "lookup", "query", "q", "now", "range", "dict", "namespace", "undef",
    "true", "false", "none", "True", "False", "None",
}
CONDITION_KEYS = {"when", "changed_when", "failed_when", "until", "that"}


class _Any(dict):
    """Every filter and test name exists (Ansible's and the collections' are not loaded here)."""

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return lambda *a, **kw: None

    def get(self, key, default=None):
        return lambda *a, **kw: None


ENV = Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
ENV.filters = _Any()
ENV.tests = _Any()


class _Loader(yaml.SafeLoader):
    pass


class _Unsafe(str):
    """An `!unsafe` string is never templated, so it reads no variable."""


_Loader.add_constructor("!unsafe", lambda loader, node: _Unsafe(loader.construct_scalar(node)))


def reads(text: str, bare: bool = False) -> set[str]:
    if bare:
        text = "{{ " + text + " }}"
    return set(meta.find_undeclared_variables(ENV.parse(text)))


def strings(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, key)
    elif isinstance(node, str) and not isinstance(node, _Unsafe):
        yield key, node


def role_reads(role: str) -> dict[str, set[str]]:
    """{variable: {file, ...}} of every variable the role reads that is not its own."""
    base = ROOT / "roles" / role
    own = (f"{role}_", f"__{role}_")
    found: dict[str, set[str]] = {}

    def note(names: set[str], where: Path) -> None:
        for name in names:
            if name.startswith(own) or name in MAGIC:
                continue
            found.setdefault(name, set()).add(str(where.relative_to(base)))

    for sub in ("tasks", "handlers", "defaults", "vars"):
        for path in sorted((base / sub).glob("*.yml")):
            data = yaml.load(path.read_text(), Loader=_Loader)
            for key, text in strings(data):
                note(reads(text, bare=key in CONDITION_KEYS), path)
    for path in sorted((base / "templates").glob("*")):
        note(reads(path.read_text()), path)
    return found


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_only_its_own_variables(role):
    found = role_reads(role)
    problems = [f"{name} (in {', '.join(sorted(files))})" for name, files in sorted(found.items())]
    assert not problems, (
        f"roles/{role} reads variables that are not its own: {'; '.join(problems)}. Give the role an input "
        f"({role}_<name>, typed in meta/argument_specs.yml) and map the shared value onto it in "
        "group_vars/all/ (the glue); name internal values __" + role + "_<name>.")


def test_the_check_sees_a_foreign_variable():
    assert reads("{{ bizosaas_registry | default('') }}") == {"bizosaas_registry"}
    assert reads("traefik_enabled | bool and not x.fresh", bare=True) == {"traefik_enabled", "x"}
    assert reads("{% set y = 1 %}{{ y }}") == set()
