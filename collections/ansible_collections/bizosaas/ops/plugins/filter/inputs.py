"""Bounds of the roles' numeric, duration, size and rate inputs: one pure filter, bounds_errors.

Ansible's role argument_specs type and enumerate inputs (``type``, ``choices``) but cannot bound
them, so each role keeps ``__<role>_bounds`` in its vars/main.yml and its tasks/validate.yml
asserts that ``__<role>_bounds | bizosaas.ops.bounds_errors(values)`` is empty, before any change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: bounds_errors
short_description: Check numbers, durations, sizes and rates against their bounds
description:
  - Returns one message per value outside its bounds, each naming the variable, the value, the
    allowed range and the fix; an empty list when every value is valid.
  - Values may be strings (C(-e name=value)); they are parsed, and a value that does not parse is
    an error that says what was expected.
  - A malformed bounds spec raises AnsibleFilterError.
options:
  _input:
    description:
      - "Variable name -> spec: C(type) (int, float, duration, size or rate; default int), C(min),
        C(max) (at least one), C(also) (values allowed outside the range, e.g. 0 = off), C(units)
        (the unit suffixes a duration or size may use), C(why) (the reason for the range, shown in
        the message) and C(fix) (default: set it in the inventory)."
      - "duration: Go/Swarm syntax, a sequence of number+unit (C(90s), C(1h30m), C(500ms)); default
        units ns, us, ms, s, m, h. C(units) may add d, w, min, month, y (systemd, Temporal, fail2ban)."
      - "size: a number of bytes, or number+unit; default Docker's units (k, m, g, t, p with an
        optional i and b, any case, powers of 1024). C(units) lists exact suffixes instead (journald: K, M, G)."
      - "rate: C(N/second), C(N/minute), C(N/hour), C(N/day) or C(N/week) (nftables)."
    type: dict
    required: true
  values: {description: Variable name -> value; names without a spec are ignored, type: dict, required: true}
"""

TYPES = ("int", "float", "duration", "size", "rate")
SPEC_KEYS = {"type", "min", "max", "also", "units", "why", "fix"}
DEFAULT_FIX = "set it in the inventory"

# Seconds per duration unit. A value may use only its spec's `units` (default: Go's); bounds in a
# spec may use any of them. month and y are systemd's (30.44 and 365.25 days).
DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0,
    "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "month": 2629800.0, "y": 31557600.0,
}
GO_UNITS = ("ns", "us", "ms", "s", "m", "h")  # Go also writes us as µs (U+00B5) or μs (U+03BC)
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zµμ]+)")
# Docker's size syntax (go-units RAMInBytes): 64M, 1.5g, 10mb, 512MiB, 1048576 (bytes).
_DOCKER_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?(i?b)?$", re.IGNORECASE)
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([A-Za-z]*)$")
SIZE_POWERS = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_RATE = re.compile(r"^(\d+)/(second|minute|hour|day|week)$")


class _Invalid(ValueError):
    """A value that does not parse as its type; the message says what was expected."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("a whole number, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.match(r"^[+-]?\d+$", value.strip()):
        return int(value.strip())
    raise _Invalid("a whole number")


def parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid("a number, not a boolean")
    if _is_number(value):
        out = float(value)
    elif isinstance(value, str) and re.match(r"^[+-]?(\d+(\.\d*)?|\.\d+)$", value.strip()):
        out = float(value.strip())
    else:
        raise _Invalid("a number")
    if not math.isfinite(out):
        raise _Invalid("a finite number")
    return out


def parse_duration(value: Any, units: Sequence[str] | None = None) -> float:
    """Seconds in a Go-style duration (``1h30m``); ``units`` limits the suffixes (default Go's)."""
    allowed = tuple(units) if units else GO_UNITS
    example = "72h" if "h" in allowed else f"1{allowed[-1]}"
    if _is_number(value) and value == 0:
        return 0.0
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"a duration with a unit, like {example} (units: {', '.join(allowed)})")
    text = value.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        unit = "us" if m.group(2) in ("µs", "μs") else m.group(2)
        if m.start() != pos or unit not in allowed:
            break
        total += float(m.group(1)) * DURATION_UNITS[unit]
        pos = m.end()
    else:
        if pos == len(text):
            return total
    raise _Invalid(f"a duration like {example} (number and unit, units: {', '.join(allowed)})")


def parse_size(value: Any, units: Sequence[str] | None = None) -> int:
    """Bytes in a size: an integer (bytes) or number+unit, powers of 1024. Default: Docker's
    units in any case (64M, 1g, 512mib); ``units`` lists the exact suffixes allowed instead."""
    if isinstance(value, bool):
        raise _Invalid("a size, not a boolean")
    if isinstance(value, int):
        return value
    example = "512M" if not units or "M" in units else f"512{units[-1]}"
    expected = f"a size like {example} or a number of bytes" + (f" (units: {', '.join(units)})" if units else "")
    if not isinstance(value, str):
        raise _Invalid(expected)
    text = value.strip()
    if units:
        m = _SIZE.match(text)
        if not m or (m.group(2) and m.group(2) not in units):
            raise _Invalid(expected)
        number, power = m.group(1), SIZE_POWERS.get(m.group(2)[:1].lower(), -1)
    else:
        m = _DOCKER_SIZE.match(text)
        if not m:
            raise _Invalid(expected)
        number, power = m.group(1), SIZE_POWERS[(m.group(2) or "").lower()]
    if power < 0:
        raise _Invalid(expected)
    return int(float(number) * 1024**power)


def parse_rate(value: Any) -> float:
    """Events per second of an nftables rate (``10/minute``)."""
    m = _RATE.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise _Invalid("a rate like 10/minute (a whole number per second, minute, hour, day or week)")
    return int(m.group(1)) / RATE_UNITS[m.group(2)]


def _parser(kind: str, units: Sequence[str] | None):
    if kind == "int":
        return parse_int
    if kind == "float":
        return parse_float
    if kind == "duration":
        return lambda v: parse_duration(v, units)
    if kind == "size":
        return lambda v: parse_size(v, units)
    return parse_rate


def _spec_parser(kind: str):
    """Bounds in a spec may use every unit of their type (a value only its spec's `units`)."""
    return _parser(kind, tuple(DURATION_UNITS) if kind == "duration" else None)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value.strip() if re.match(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$", value) else f'"{value}"'
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _check_spec(name: Any, spec: Any) -> tuple[Any, Any, list[Any], Any]:
    """Validate one spec; return (min, max, also, value parser), the bounds parsed."""
    if not isinstance(name, str) or not name:
        raise AnsibleFilterError(f"bounds_errors: a bounds entry needs a variable name, got {name!r}")
    if not isinstance(spec, Mapping):
        raise AnsibleFilterError(f"bounds_errors: the bounds of {name} must be a mapping, got {spec!r}")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise AnsibleFilterError(
            f"bounds_errors: the bounds of {name} have unknown keys {sorted(unknown)} (known: {sorted(SPEC_KEYS)})"
        )
    kind = spec.get("type", "int")
    if kind not in TYPES:
        raise AnsibleFilterError(f"bounds_errors: the bounds of {name} have type {kind!r}, not one of {TYPES}")
    if "min" not in spec and "max" not in spec:
        raise AnsibleFilterError(f"bounds_errors: the bounds of {name} need min, max or both")
    units = spec.get("units")
    if units is not None:
        known = DURATION_UNITS if kind == "duration" else {"B", "K", "M", "G", "T", "P", "E"} if kind == "size" else {}
        if (
            kind not in ("duration", "size")
            or not isinstance(units, Sequence)
            or isinstance(units, str)
            or not units
            or any(u not in known for u in units)
        ):
            raise AnsibleFilterError(
                f"bounds_errors: the bounds of {name} have units {units!r}: a non-empty list for a duration "
                f"or a size, each one of {', '.join(known) if known else '(none for this type)'}"
            )
    for key in ("why", "fix"):
        if key in spec and not isinstance(spec[key], str):
            raise AnsibleFilterError(f"bounds_errors: the bounds of {name} have a {key} that is not text")
    also = spec.get("also", [])
    if not isinstance(also, Sequence) or isinstance(also, str):
        raise AnsibleFilterError(f"bounds_errors: the bounds of {name} have also={also!r}, which is not a list")
    bound = _spec_parser(kind)
    try:
        low = bound(spec["min"]) if spec.get("min") is not None else None
        high = bound(spec["max"]) if spec.get("max") is not None else None
        extra = [bound(a) for a in also]
    except _Invalid as e:
        raise AnsibleFilterError(f"bounds_errors: the bounds of {name} are not {e}") from e
    if low is not None and high is not None and low > high:
        raise AnsibleFilterError(f"bounds_errors: the bounds of {name} have min {spec['min']} above max {spec['max']}")
    return low, high, extra, _parser(kind, units)


def _range_text(spec: Mapping[str, Any]) -> str:
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None:
        text = f"between {_plain(low)} and {_plain(high)}"
    elif low is not None:
        text = f"at least {_plain(low)}"
    else:
        text = f"at most {_plain(high)}"
    also = [_plain(a) for a in spec.get("also", [])]
    return f"{' or '.join(also)} or {text}" if also else text


def _plain(value: Any) -> str:
    return str(value).strip() if not isinstance(value, bool) else str(value).lower()


def bounds_errors(bounds: Any, values: Any) -> list[str]:
    """One message per value of ``values`` outside its spec in ``bounds``; [] when all are valid."""
    if not isinstance(bounds, Mapping):
        raise AnsibleFilterError(f"bounds_errors: the bounds must be a mapping of variable -> spec, got {bounds!r}")
    if not isinstance(values, Mapping):
        raise AnsibleFilterError(f"bounds_errors: the values must be a mapping of variable -> value, got {values!r}")
    errors: list[str] = []
    for name, spec in bounds.items():
        low, high, also, parse = _check_spec(name, spec)
        if name not in values:
            continue
        value = values[name]
        must = f"must be {_range_text(spec)}"
        why = f" ({spec['why']})" if spec.get("why") else ""
        fix = spec.get("fix", DEFAULT_FIX)
        try:
            parsed = parse(value)
        except _Invalid as e:
            errors.append(f"{name} is {_shown(value)}, not {e}: it {must}{why}; {fix}")
            continue
        if parsed in also:
            continue
        if (low is not None and parsed < low) or (high is not None and parsed > high):
            errors.append(f"{name} is {_shown(value)}: {must}{why}; {fix}")
    return errors


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bounds_errors": bounds_errors}
