"""A switch given on the command line is a string: `-e docker_engine_enabled=false` is the string
'false', which a bare `when: docker_engine_enabled` reads as true. Every condition that tests a
`*_enabled` switch must go through `| bool`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SWITCH = re.compile(
    r"\b([a-z][a-z0-9_]*_enabled)\b(?!(\s*\|\s*default\([^)]*\))?\s*\|\s*bool)(?!\s*is\s+(not\s+)?defined)")


def conditions(node, where=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("when", "changed_when", "failed_when", "until", "that"):
                for cond in value if isinstance(value, list) else [value]:
                    if isinstance(cond, str):
                        yield where, cond
            yield from conditions(value, node.get("name", where) if isinstance(node.get("name"), str) else where)
    elif isinstance(node, list):
        for item in node:
            yield from conditions(item, where)


def files():
    for pattern in ("roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "playbooks/*.yml", "molecule/*/*.yml"):
        yield from sorted(ROOT.glob(pattern))


def test_every_switch_in_a_condition_goes_through_bool():
    bad = []
    for path in files():
        for task, cond in conditions(yaml.safe_load(path.read_text()) or []):
            for m in SWITCH.finditer(cond):
                bad.append(f"{path.relative_to(ROOT)}: {task!r}: {m.group(1)} without | bool in {cond!r}")
    assert not bad, "\n".join(bad)


def test_the_check_finds_a_bare_switch():
    found = list(SWITCH.finditer("docker_engine_enabled and not x"))
    assert [m.group(1) for m in found] == ["docker_engine_enabled"]
    assert not list(SWITCH.finditer("docker_engine_enabled | bool and hardening_enabled|bool"))
