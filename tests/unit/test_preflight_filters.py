"""playbooks/preflight.yml's tag rules, as pure functions (bizosaas.ops.preflight_*)."""

from __future__ import annotations

import pytest
from ansible_collections.bizosaas.ops.plugins.filter.preflight import preflight_platforms, preflight_unknown_tags

PLATFORMS = {"bizoholic": {}, "coreldove": {}, "management": {}}
PHASES = {"phase2": ["bizoholic", "coreldove"], "phase3": ["management"]}


@pytest.mark.parametrize(
    ("run", "skip", "scope", "want"),
    [
        (["all"], [], ["all"], ["bizoholic", "coreldove", "management"]),
        (["coreldove"], [], ["all"], ["coreldove"]),
        (["phase2"], [], ["all"], ["bizoholic", "coreldove"]),
        (["all"], ["coreldove"], ["all"], ["bizoholic", "management"]),
        (["all"], [], ["phase3"], ["management"]),
        (["all"], [], ["coreldove"], ["coreldove"]),  # platform.yml -e platform=coreldove
        (["hardening"], [], ["all"], []),
        (["platform_stack"], [], ["phase1"], []),
    ],
)
def test_the_platforms_a_run_validates(run, skip, scope, want):
    assert preflight_platforms(PLATFORMS, PHASES, run, skip, scope) == want


def test_unknown_tags_ignore_molecules_own_skips():
    known = ["all", "coreldove", "phase2"]
    assert preflight_unknown_tags(["coreldov"], ["molecule-notest", "molecule-idempotence-notest", "notest"],
                                  known) == ["coreldov"]
    assert preflight_unknown_tags(["all"], ["phase9"], known) == ["phase9"]
    assert preflight_unknown_tags(["coreldove"], [], known) == []
