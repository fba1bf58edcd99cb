"""Bounds of the roles' inputs: the bizosaas.ops.bounds_errors filter (filter/inputs.py), and a walk
over every role that fails, naming the option, when a number, duration, size or mode has no bounds.

Ansible's argument_specs type and enumerate inputs (`type`, `choices`, checked by the `validate`
entry point in the preflight) but cannot bound them, so each role keeps `__<role>_bounds` in its
vars/main.yml and its tasks/validate.yml asserts that none is out of bounds. The walk fails when
- an int or float option has no bounds entry;
- a str option that is a duration, a size, a rate or a mode (judged by its default and its name)
  has neither bounds nor choices, unless NOT_BOUNDED says why;
- a bounds entry names a variable that is not an option of the role;
- a role's own defaults, or an inventory's values, are out of its bounds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter import inputs, platforms
from ansible_collections.bizosaas.ops.plugins.filter.inputs import bounds_errors

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
# What the Jinja in a bounds spec reads (the host's memory and CPUs), for rendering it here.
FACTS = {"ansible_facts": {"memtotal_mb": 3936, "processor_vcpus": 2}}

# str options whose default or name looks like a duration, size, rate or mode, yet have neither
# bounds nor choices, and why that is right.
NOT_BOUNDED = {
    "hardening_unattended_upgrades_reboot_time": "a clock time (HH:MM), checked by a regex in tasks/validate.yml",
}
# Name endings of str options that hold a duration, a size or a mode (an enumeration).
_DURATION_NAME = re.compile(r"_(timeout|interval|period|delay|monitor|duration|retention|bantime|findtime|time)$")
_SIZE_NAME = re.compile(r"_(size|max_use|memory)$")
_ENUM_NAME = re.compile(r"(_(mode|level|strategy|driver|scheme|source|umask|appendfsync)|(?<!_security)_policy)$")
# A default that looks like a duration (90s, 1h30m, 1month), a size (512M, 10m), a rate or a file mode.
_DURATION_VALUE = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h|d|w|min|month|y))+$")
_SIZE_VALUE = re.compile(r"^\d+(\.\d+)?[kmgtpKMGTP]i?[bB]?$")
_RATE_VALUE = re.compile(r"^\d+/(second|minute|hour|day|week)$")
_MODE_VALUE = re.compile(r"^0?[0-7]{3}$")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), _Loader) or {}


def _render(value: Any) -> Any:
    """A bounds spec with its Jinja rendered against FACTS (as Ansible templates it)."""
    if isinstance(value, str) and "{{" in value:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(**FACTS)
    if isinstance(value, dict):
        return {k: _render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v) for v in value]
    return value


def _options(role: str) -> dict[str, dict]:
    specs = _yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    out: dict[str, dict] = {}
    for spec in specs.values():
        for name, option in (spec.get("options") or {}).items():
            out.setdefault(name, option)
    return out


def _bounds(role: str) -> dict[str, Any]:
    return _render(_yaml(ROOT / "roles" / role / "vars" / "main.yml").get(f"__{role}_bounds") or {})


# ------------------------------------------------------------------------------------------------
# the filter
# ------------------------------------------------------------------------------------------------
PG = {"postgres_max_connections": {"min": 10, "max": 10000, "why": "PostgreSQL refuses the server otherwise"}}
RETENTION = {"r": {"type": "duration", "units": ["ns", "us", "ms", "s", "m", "h", "d"], "min": "24h", "max": "8760h"}}
LOG_SIZE = {"s": {"type": "size", "min": "1M", "max": "1G"}}
JOURNAL = {"j": {"type": "size", "units": ["K", "M", "G", "T"], "min": "16M", "max": "64G"}}
SWAP = {"swap": {"min": 64, "max": 65536, "also": [0]}}
FRACTION = {"f": {"type": "float", "min": 0.05, "max": 0.9}}
RATE = {"rate": {"type": "rate", "min": "1/minute", "max": "1000/second"}}
SYSTEMD = {"t": {"type": "duration", "units": ["s", "min", "h", "d", "w", "month", "y"], "min": "1d", "max": "10y"}}


def test_the_message_names_variable_value_range_reason_and_fix():
    assert bounds_errors(PG, {"postgres_max_connections": -5}) == [
        "postgres_max_connections is -5: must be between 10 and 10000 (PostgreSQL refuses the server "
        "otherwise); set it in the inventory"
    ]


@pytest.mark.parametrize(
    ("bounds", "value", "ok"),
    [
        # in range and at the edges
        (PG, 200, True), (PG, 10, True), (PG, 10000, True), (PG, 9, False), (PG, 10001, False), (PG, -5, False),
        # strings as -e gives them; non-numeric strings, floats, booleans, nothing
        (PG, "200", True), (PG, " 200 ", True), (PG, "-5", False), (PG, "abc", False), (PG, "", False),
        (PG, 200.0, True), (PG, 200.5, False), (PG, "2e2", False), (PG, True, False), (PG, None, False),
        (FRACTION, 0.5, True), (FRACTION, "0.5", True), (FRACTION, 1, False), (FRACTION, 0.05, True),
        (FRACTION, "half", False), (FRACTION, float("nan"), False),
        # values allowed outside the range (0 = off)
        (SWAP, 0, True), (SWAP, "0", True), (SWAP, 32, False), (SWAP, 64, True), (SWAP, -1, False),
        # durations: Go's syntax plus the spec's units
        (RETENTION, "72h", True), (RETENTION, "24h", True), (RETENTION, "1d", True), (RETENTION, "30d", True),
        (RETENTION, "1d12h", True), (RETENTION, "1.5d", True), (RETENTION, "8760h", True), (RETENTION, "365d", True),
        (RETENTION, "1h", False), (RETENTION, "23h59m", False), (RETENTION, "8761h", False),
        (RETENTION, "forever", False),
        (RETENTION, "1w", False), (RETENTION, "86400", False), (RETENTION, 86400, False), (RETENTION, "72H", False),
        (RETENTION, "-72h", False), (RETENTION, "72h ", True), (RETENTION, "", False), (RETENTION, None, False),
        ({"d": {"type": "duration", "min": "0s", "max": "60s"}}, "500ms", True),
        ({"d": {"type": "duration", "min": "0s", "max": "60s"}}, "1m", True),
        ({"d": {"type": "duration", "min": "0s", "max": "60s"}}, "1m1s", False),
        ({"d": {"type": "duration", "min": "0s", "max": "60s"}}, "0", True),
        ({"d": {"type": "duration", "min": "0s", "max": "60s"}}, "1d", False),  # d is not a Go unit
        ({"d": {"type": "duration", "min": "0s", "max": "60s"}}, "90µs", True),
        (SYSTEMD, "1month", True), (SYSTEMD, "2w", True), (SYSTEMD, "1y", True), (SYSTEMD, "11y", False),
        (SYSTEMD, "1m", False),  # systemd's minute is min; m would be read as a month by nobody
        # sizes: Docker's units in any case, bytes as a number; or the spec's exact units
        (LOG_SIZE, "10m", True), (LOG_SIZE, "10M", True), (LOG_SIZE, "10mb", True), (LOG_SIZE, "10MiB", True),
        (LOG_SIZE, "1g", True), (LOG_SIZE, "1.5g", False), (LOG_SIZE, "512k", False), (LOG_SIZE, 1048576, True),
        (LOG_SIZE, "1048576", True), (LOG_SIZE, "10x", False), (LOG_SIZE, "-10m", False), (LOG_SIZE, True, False),
        (JOURNAL, "500M", True), (JOURNAL, "500m", False), (JOURNAL, "1T", False), (JOURNAL, "16M", True),
        (JOURNAL, "500MB", False),
        # rates (nftables)
        (RATE, "10/minute", True), (RATE, "1/minute", True), (RATE, "1001/second", False), (RATE, "10/min", False),
        (RATE, "1/hour", False), (RATE, 10, False),
    ],
)
def test_bounds(bounds, value, ok):
    (name,) = bounds
    errors = bounds_errors(bounds, {name: value})
    assert (errors == []) is ok, errors
    if not ok:
        (message,) = errors
        assert message.startswith(f"{name} is "), message
        assert "set it in the inventory" in message


def test_a_value_that_does_not_parse_says_what_was_expected():
    (msg,) = bounds_errors(PG, {"postgres_max_connections": "abc"})
    assert msg.startswith('postgres_max_connections is "abc", not a whole number: it must be between 10 and 10000')
    (msg,) = bounds_errors(RETENTION, {"r": "forever"})
    assert 'r is "forever", not a duration like 72h' in msg and "between 24h and 8760h" in msg
    (msg,) = bounds_errors(SWAP, {"swap": 32})
    assert "must be 0 or between 64 and 65536" in msg


def test_one_sided_bounds_custom_fix_and_unchecked_names():
    bounds = {"a": {"min": 1, "fix": "raise it"}, "b": {"max": 5}, "c": {"min": 0}}
    assert bounds_errors(bounds, {"a": 0, "b": 6}) == [
        "a is 0: must be at least 1; raise it",
        "b is 6: must be at most 5; set it in the inventory",
    ]
    assert bounds_errors(bounds, {"other": -1}) == []


@pytest.mark.parametrize(
    "spec",
    [
        "10..20",
        {},
        {"type": "int"},
        {"min": 10, "max": 5},
        {"min": "ten"},
        {"type": "integer", "min": 1},
        {"min": 1, "bounds": 2},
        {"type": "duration", "min": "forever"},
        {"type": "duration", "units": ["fortnight"], "min": "1s"},
        {"type": "int", "units": ["s"], "min": 1},
        {"type": "size", "units": "M", "min": "1M"},
        {"min": 1, "also": 0},
        {"min": 1, "why": 3},
    ],
)
def test_a_malformed_spec_raises(spec):
    with pytest.raises(AnsibleFilterError, match="bounds_errors"):
        bounds_errors({"x": spec}, {"x": 1})


@pytest.mark.parametrize(("bounds", "values"), [("x", {}), ({}, ["x"]), ({1: {"min": 1}}, {1: 2})])
def test_malformed_arguments_raise(bounds, values):
    with pytest.raises(AnsibleFilterError):
        bounds_errors(bounds, values)


def test_the_filter_is_registered():
    assert inputs.FilterModule().filters()["bounds_errors"] is bounds_errors


# ------------------------------------------------------------------------------------------------
# the per-service numbers of the platform data (platforms_validate, service_bounds)
# ------------------------------------------------------------------------------------------------
SERVICE_BOUNDS = _render(_yaml(ROOT / "roles/platform_stack/vars/main.yml")["__platform_stack_service_bounds"])
PLATFORMS = yaml.safe_load(
    (ROOT / "group_vars/all/platforms.yml").read_text().replace("{{ bizosaas_domain }}", "example.org")
)["bizosaas_platforms"]
SERVICE_DEFAULTS = _yaml(ROOT / "roles/platform_stack/defaults/main.yml")["platform_stack_service_defaults"]


def _validate(overrides=None, defaults=SERVICE_DEFAULTS, data=None):
    return platforms.platforms_validate(
        data or PLATFORMS, "example.org", service_bounds=SERVICE_BOUNDS, service_defaults=defaults, overrides=overrides
    )


def test_the_real_platforms_and_the_local_overrides_are_in_bounds():
    local = _yaml(ROOT / "inventories/local/group_vars/all/local.yml")
    probe = local["bizosaas_probe_service"]
    overrides = {p: {"*": probe} for p in PLATFORMS}
    assert _validate() == ["bizoholic", "coreldove", "management"]
    assert _validate(overrides) == ["bizoholic", "coreldove", "management"]


OV = "bizosaas_platform_overrides.coreldove"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"coreldove": {"*": {"replicas": 0}}}, f"{OV}.*.replicas is 0: must be between 1 and 50"),
        ({"coreldove": {"frontend": {"replicas": 1000}}}, f"{OV}.frontend.replicas is 1000"),
        ({"coreldove": {"*": {"cpus": "4"}}}, f"{OV}.*.cpus is 4: must be between 0.01 and 2"),
        ({"coreldove": {"*": {"memory": "4M"}}}, f'{OV}.*.memory is "4M"'),
        ({"coreldove": {"*": {"memory": "lots"}}}, 'memory is "lots", not a size like 512M'),
        ({"coreldove": {"*": {"port": 70000}}}, f"{OV}.*.port is 70000"),
        ({"coreldove": {"*": {"memory": "64M", "reserve_memory": "128M"}}},
         "reserve_memory 128M is above its memory limit 64M"),
    ],
)
def test_service_numbers_out_of_bounds_name_the_variable(overrides, expected):
    with pytest.raises(AnsibleFilterError) as e:
        _validate(overrides)
    assert expected in str(e.value)
    assert "bizosaas_platform_overrides" in str(e.value)


def test_service_numbers_in_the_platform_data_and_the_defaults_are_checked():
    data = {**PLATFORMS, "coreldove": {**PLATFORMS["coreldove"]}}
    data["coreldove"]["services"] = {**PLATFORMS["coreldove"]["services"], "frontend": {
        **PLATFORMS["coreldove"]["services"]["frontend"], "replicas": 0}}
    with pytest.raises(AnsibleFilterError, match=r"bizosaas_platforms\.coreldove\.services\.frontend\.replicas is 0"):
        _validate(data=data)
    with pytest.raises(AnsibleFilterError, match=r"platform_stack_service_defaults\.cpus is \"lots\""):
        _validate(defaults={**SERVICE_DEFAULTS, "cpus": "lots"})


def test_without_service_bounds_nothing_changes():
    overrides = {"coreldove": {"*": {"replicas": 0}}}
    assert platforms.platforms_validate(PLATFORMS, "example.org", overrides=overrides) == [
        "bizoholic", "coreldove", "management"]


# ------------------------------------------------------------------------------------------------
# every role: every number, duration, size, rate and mode is bounded, and its defaults are in bounds
# ------------------------------------------------------------------------------------------------
def _kind(name: str, option: dict) -> str | None:
    """What a str option holds, judged by its default and its name: duration, size, rate, mode or None."""
    default = option.get("default")
    value = default if isinstance(default, str) and "{{" not in default else ""
    if _RATE_VALUE.match(value):
        return "rate"
    if _MODE_VALUE.match(value) or _ENUM_NAME.search(name):
        return "mode"
    if _SIZE_VALUE.match(value) and not _DURATION_NAME.search(name):
        return "size"
    if _DURATION_VALUE.match(value) or _DURATION_NAME.search(name):
        return "duration"
    if _SIZE_NAME.search(name):
        return "size"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_number_duration_size_and_mode_is_bounded(role):
    bounds = _bounds(role)
    problems = []
    for name, option in _options(role).items():
        kind = option.get("type", "str")
        if kind in ("int", "float") and name not in bounds:
            problems.append(f"{role}: {name} is an {kind} option without an entry in __{role}_bounds (vars/main.yml)")
        if kind == "str" and name not in bounds and "choices" not in option and name not in NOT_BOUNDED:
            what = _kind(name, option)
            if what:
                problems.append(
                    f"{role}: {name} looks like a {what} (default {option.get('default')!r}) but has neither an "
                    f"entry in __{role}_bounds nor choices in argument_specs; add one, or list it in NOT_BOUNDED "
                    "with the reason"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_every_bounds_entry_is_an_option(role):
    options = _options(role)
    strays = [f"{role}: __{role}_bounds names {name}, which is not an option of the role" for name in _bounds(role)
              if name not in options]
    assert not strays, "\n".join(strays)


@pytest.mark.parametrize("role", ROLES)
def test_the_role_defaults_are_in_bounds(role):
    bounds = _bounds(role)
    defaults = _yaml(ROOT / "roles" / role / "defaults" / "main.yml")
    literal = {k: v for k, v in defaults.items() if k in bounds and not (isinstance(v, str) and "{{" in v)}
    assert bounds_errors(bounds, literal) == []


@pytest.mark.parametrize("inventory", sorted(p.name for p in (ROOT / "inventories").iterdir() if p.is_dir()))
def test_the_inventories_values_are_in_bounds(inventory):
    bounds = {k: v for role in ROLES for k, v in _bounds(role).items()}
    values: dict[str, Any] = {}
    for f in sorted((ROOT / "inventories" / inventory / "group_vars").rglob("*.yml")):
        if f.name != "vault.yml" and not any(p.is_symlink() for p in f.parents):
            values.update({k: v for k, v in _yaml(f).items() if k in bounds and not (isinstance(v, str) and "{{" in v)})
    assert bounds_errors(bounds, values) == []


@pytest.mark.parametrize("name", sorted(NOT_BOUNDED))
def test_not_bounded_lists_real_options(name):
    assert any(name in _options(role) for role in ROLES), f"NOT_BOUNDED lists {name}, which no role has"


BOUNDED_ROLES = [r for r in ROLES if "_bounds:" in (ROOT / "roles" / r / "vars" / "main.yml").read_text()]


@pytest.mark.parametrize("role", BOUNDED_ROLES)
def test_validate_asserts_the_bounds_in_the_preflight(role):
    """validate.yml asserts over __<role>_bounds, and playbooks/preflight.yml runs the role's validate."""
    validate = (ROOT / "roles" / role / "tasks" / "validate.yml").read_text()
    assert f"__{role}_bounds | bizosaas.ops.bounds_errors(" in validate
    plays = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())
    preflight = next(p for p in plays if "tasks" in p)["tasks"]
    included = [t["ansible.builtin.include_role"] for t in preflight if "ansible.builtin.include_role" in t]
    assert {"name": role, "tasks_from": "validate"} in [
        {k: v for k, v in inc.items() if k in ("name", "tasks_from")} for inc in included
    ], f"playbooks/preflight.yml does not run {role}'s validate.yml"


def test_each_namespace_retention_is_held_to_the_role_bounds():
    from ansible_collections.bizosaas.ops.plugins.filter import data

    retention = _bounds("temporal")["temporal_namespace_retention"]
    namespaces = [
        {"name": "ns-a", "platform": "p", "retention": "30d"},
        {"name": "ns-b", "platform": "p", "retention": "1h"},
        {"name": "ns-c", "platform": "p"},
    ]
    assert data.temporal_input_errors(namespaces, ["p"], retention) == [
        'temporal_namespaces[1].retention is "1h": must be between 24h and 8760h (closed workflows are deleted after '
        "it; under a day they vanish before anyone can look at a failure); set it in the inventory"
    ]
    # without the bounds, the old check (a whole number of hours or days)
    assert data.temporal_input_errors(namespaces, ["p"]) == []
