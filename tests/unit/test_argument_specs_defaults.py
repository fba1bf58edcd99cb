"""argument_specs are the single source of a role's defaults: meta/argument_specs.yml and
defaults/main.yml must agree, option by option.

The rule: every option that defaults/main.yml sets has a `default:` in argument_specs equal to the
value in defaults/main.yml, compared as loaded YAML. A default computed by a Jinja expression
appears in the spec as the same expression string (`"{{ bizosaas_registry | default('') }}"`),
which is what ansible-doc shows. Ansible itself never applies a spec default to a role (the role's
defaults/main.yml always does), so a spec default that differs only misleads the reader.

Every option of every entry point is a variable of defaults/main.yml, and every variable of
defaults/main.yml is an option of an entry point, except the few listed in DEFAULTS_ONLY with the
reason they are not role inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())

# (role, variable in defaults/main.yml): why it is not an option of any entry point.
DEFAULTS_ONLY = {
    ("platform_stack", "platform_stack_history_platform"): "read by tasks_from: history (playbooks/history.yml)",
    ("platform_stack", "platform_stack_history_lines"): "read by tasks_from: history (playbooks/history.yml)",
}


def _specs(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def _defaults(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def test_every_role_is_checked():
    assert len(ROLES) >= 9, ROLES


def spec_problems(role: str, specs: dict, defaults: dict) -> list[str]:
    """Each option whose spec default is missing or differs from defaults/main.yml, named (once: the
    entry points share their options through a YAML anchor)."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for entry, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            if (name, repr(option.get("default"))) in seen:
                continue
            seen.add((name, repr(option.get("default"))))
            if name not in defaults:
                problems.append(f"{role}: option {name} (entry point {entry}) is not in defaults/main.yml")
            elif "default" not in option:
                problems.append(
                    f"{role}: option {name} (entry point {entry}) has no default: in argument_specs; "
                    f"defaults/main.yml has {defaults[name]!r}"
                )
            elif option["default"] != defaults[name]:
                problems.append(
                    f"{role}: option {name} (entry point {entry}): argument_specs default {option['default']!r} "
                    f"!= defaults/main.yml {defaults[name]!r}"
                )
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_role_defaults(role):
    problems = spec_problems(role, _specs(role), _defaults(role))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_default_is_an_option(role):
    options = {name for spec in _specs(role).values() for name in (spec.get("options") or {})}
    missing = [
        f"{role}: {name} is in defaults/main.yml but no entry point of meta/argument_specs.yml has it"
        for name in _defaults(role)
        if name not in options and (role, name) not in DEFAULTS_ONLY
    ]
    assert not missing, "\n".join(missing)


def test_defaults_only_exceptions_are_real():
    stale = [f"{role}: {name}" for role, name in DEFAULTS_ONLY if name not in _defaults(role)]
    options = {(role, n) for role in ROLES for s in _specs(role).values() for n in (s.get("options") or {})}
    stale += [f"{role}: {name} is an option now" for role, name in DEFAULTS_ONLY if (role, name) in options]
    assert not stale, "DEFAULTS_ONLY lists: " + "; ".join(stale)


def test_a_drift_is_named():
    """The message names the role, the option and both values."""
    specs = {"main": {"options": {"x_enabled": {"type": "bool", "default": True},
                                  "x_image": {"type": "str"}, "x_extra": {"type": "str", "default": ""}}}}
    defaults = {"x_enabled": "{{ bizosaas_x | default(true) }}", "x_image": "x:1"}
    assert spec_problems("x", specs, defaults) == [
        "x: option x_enabled (entry point main): argument_specs default True != defaults/main.yml "
        "'{{ bizosaas_x | default(true) }}'",
        "x: option x_image (entry point main) has no default: in argument_specs; defaults/main.yml has 'x:1'",
        "x: option x_extra (entry point main) is not in defaults/main.yml",
    ]
