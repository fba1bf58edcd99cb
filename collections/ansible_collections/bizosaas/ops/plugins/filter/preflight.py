"""Pure helpers of playbooks/preflight.yml: which platforms a run deploys, and unknown tags.

A platform is data, not a play, so Ansible's own tag selection cannot pick its validation: these
filters apply the same rule the plays' tags do, in one tested place instead of Jinja in YAML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DOCUMENTATION = r"""
name: preflight_platforms
short_description: The platforms a run deploys, from its tags and the importing playbook's scope
description:
  - A platform is selected by its own name, its phase, C(platform_stack), C(preflight) or C(all), both in the
    run's tags and in the importing playbook's scope, and not skipped by name.
positional: platforms, phase_platforms, run_tags, skip_tags, scope
options:
  _input: {description: bizosaas_platforms, type: dict, required: true}
  phase_platforms: {description: "{phase: [platform, ...]}", type: dict, required: true}
  run_tags: {description: ansible_run_tags, type: list, elements: str, required: true}
  skip_tags: {description: ansible_skip_tags, type: list, elements: str, required: true}
  scope: {description: what the importing playbook deploys, type: list, elements: str, required: true}
"""

MOLECULE_SKIPS = re.compile(r"^(molecule-.*|notest)$")


def preflight_platforms(platforms: Mapping[str, Any], phase_platforms: Mapping[str, Sequence[str]],
                        run_tags: Iterable[str], skip_tags: Iterable[str], scope: Iterable[str]) -> list[str]:
    run, skip, scope = set(run_tags), set(skip_tags), set(scope)
    candidates = [p for ps in phase_platforms.values() for p in ps] + [s for s in scope if s in (platforms or {})]
    out: list[str] = []
    for p in dict.fromkeys(candidates):
        wanted = {"all", "preflight", "platform_stack", p} | {ph for ph, ps in phase_platforms.items() if p in ps}
        if run & wanted and scope & wanted and p not in skip:
            out.append(p)
    return out


def preflight_unknown_tags(run_tags: Iterable[str], skip_tags: Iterable[str], known: Iterable[str]) -> list[str]:
    """Tags of --tags/--skip-tags that no play knows (Molecule's own skip tags are not the user's)."""
    given = list(run_tags) + [t for t in skip_tags if not MOLECULE_SKIPS.match(t)]
    known = set(known)
    return [t for t in dict.fromkeys(given) if t not in known]


class FilterModule:
    def filters(self):
        return {"preflight_platforms": preflight_platforms, "preflight_unknown_tags": preflight_unknown_tags}
