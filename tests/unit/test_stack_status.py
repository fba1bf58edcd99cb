"""stack_status.py's spec hash: what tells a Dokploy redeploy that re-applied the same file (no
change) from one that repaired a service (a change)."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("stack_status", ROOT / "roles/platform_stack/files/stack_status.py")
stack_status = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stack_status)

SPEC = {
    "Name": "coreldove_frontend",
    "Labels": {"com.docker.stack.namespace": "coreldove"},
    "Mode": {"Replicated": {"Replicas": 1}},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "registry/probe:1@sha256:aa", "Env": ["A=1"]},
        "ForceUpdate": 0,
    },
}


def test_same_spec_same_hash_whatever_the_key_order():
    reordered = {k: SPEC[k] for k in reversed(list(SPEC))}
    assert stack_status.spec_hash(SPEC) == stack_status.spec_hash(reordered)


def test_a_forced_restart_is_not_a_change():
    forced = copy.deepcopy(SPEC)
    forced["TaskTemplate"]["ForceUpdate"] = 3
    assert stack_status.spec_hash(forced) == stack_status.spec_hash(SPEC)


def test_drift_by_hand_changes_the_hash():
    env = copy.deepcopy(SPEC)
    env["TaskTemplate"]["ContainerSpec"]["Env"].append("DRIFT=1")
    scaled = copy.deepcopy(SPEC)
    scaled["Mode"]["Replicated"]["Replicas"] = 0
    moved = copy.deepcopy(SPEC)
    moved["TaskTemplate"]["ContainerSpec"]["Image"] = "registry/probe:1@sha256:bb"
    hashes = {stack_status.spec_hash(s) for s in (SPEC, env, scaled, moved)}
    assert len(hashes) == 4
