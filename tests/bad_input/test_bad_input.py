"""The bad-input suite: every case in cases/*.yml must fail with its message and change nothing.

Each case is a set of extra vars plus the text its failure must contain. The runner plays the
case's playbook against a throwaway VPS container and asserts three things: the run failed, the
output names the problem (`error`), and the recap reports changed=0 for the VPS, i.e. the
validation ran before any change on the host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import vps

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = Path(__file__).parent / "cases"
BASE_VARS = yaml.safe_load((Path(__file__).parent / "base_vars.yml").read_text()) or {}


def load_cases() -> list[dict]:
    cases: list[dict] = []
    seen: set[str] = set()
    for f in sorted(CASES_DIR.glob("*.yml")):
        for case in yaml.safe_load(f.read_text()) or []:
            missing = {"id", "playbook", "error"} - set(case)
            if missing:
                raise ValueError(f"{f.name}: case {case.get('id', '?')} lacks {sorted(missing)}")
            if case["id"] in seen:
                raise ValueError(f"{f.name}: duplicate case id {case['id']}")
            seen.add(case["id"])
            case["_file"] = f.name
            cases.append(case)
    return cases


CASES = load_cases()


@pytest.fixture(scope="session")
def vps_pool(tmp_path_factory):
    """One throwaway VPS per image, shared by every case: a failed case must leave it unchanged."""
    started: dict[str, vps.Vps] = {}

    def get(image: str) -> vps.Vps:
        if image not in started:
            # BIZOSAAS_BADINPUT_PREFIX keeps concurrent runs (several engineers) off each other's VPS.
            prefix = os.environ.get("BIZOSAAS_BADINPUT_PREFIX", "badinput")
            name = f"{prefix}-{re.sub(r'[^a-z0-9]+', '-', image.split('/')[-1])}"
            started[image] = vps.start(name, image=image, nested_docker="docker" in image)
        return started[image]

    yield get
    for v in started.values():
        vps.stop(v.name)


def test_cases_exist():
    assert CASES, "no bad-input cases found in tests/bad_input/cases/"


@pytest.mark.vps
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_is_rejected_before_any_change(case, vps_pool, tmp_path):
    host = vps_pool(case.get("image", "bizosaas-kit/vps:bookworm"))
    # A directory inventory that links the shared glue, like inventories/<env>/ does.
    (tmp_path / "inv").mkdir()
    host.inventory(tmp_path / "inv" / "hosts.yml")
    inventory = tmp_path / "inv"
    extra = {**BASE_VARS, **(case.get("vars") or {})}
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    cmd = ["ansible-playbook", "-i", str(inventory), str(ROOT / case["playbook"]),
           "-e", f"@{tmp_path / 'vars.json'}"]
    cmd += case.get("args", [])
    proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=600)
    out = proc.stdout + proc.stderr
    tail = "\n".join(out.splitlines()[-30:])
    assert proc.returncode != 0, f"{case['id']}: the play succeeded but should have failed:\n{tail}"
    assert case["error"] in out, f"{case['id']}: expected {case['error']!r} in the failure:\n{tail}"
    recap = re.search(rf"^{re.escape(host.name)}\s*:.*?changed=(\d+)", out, re.M)
    assert recap, f"{case['id']}: no play recap for {host.name}:\n{tail}"
    assert recap.group(1) == "0", f"{case['id']}: a task changed the host before failing:\n{tail}"
