"""The GitHub Actions matrix runs exactly the Molecule scenarios that exist, and .ci/run runs make test."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def scenarios() -> set[str]:
    return {p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml") if not p.parent.name.startswith("_")}


def test_workflow_matrix_matches_the_scenarios():
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    matrix = set(wf["jobs"]["molecule"]["strategy"]["matrix"]["scenario"])
    assert matrix == scenarios(), f"matrix {sorted(matrix)} != scenarios {sorted(scenarios())}"


def test_ci_run_calls_make_test():
    text = (ROOT / ".ci/run").read_text()
    assert "make test" in text


def test_every_scenario_uses_the_shared_harness():
    for name in scenarios():
        data = yaml.safe_load((ROOT / "molecule" / name / "molecule.yml").read_text()) or {}
        for platform in data.get("platforms", []):
            assert not platform.get("privileged"), f"{name}: privileged containers fail on these machines"
        assert (ROOT / "molecule" / name / "converge.yml").exists(), f"{name}: no converge.yml"
        assert (ROOT / "molecule" / name / "verify.yml").exists() or (ROOT / "molecule" / name / "tests").exists(), \
            f"{name}: no verifier"


def test_deploy_workflows_use_known_tags():
    """Seed phase 4: one deploy workflow per stack, each running a tag site.yml knows."""
    platforms = yaml.safe_load((ROOT / "group_vars/all/platforms.yml").read_text())["bizosaas_platforms"]
    known = set(platforms) | {"phase1", "phase2", "phase3"}
    callers = sorted((ROOT / ".github/workflows").glob("deploy-*.yml"))
    assert {p.stem for p in callers} == {"deploy-infrastructure", *(f"deploy-{p}" for p in platforms)}
    for path in callers:
        wf = yaml.safe_load(path.read_text())
        job = wf["jobs"]["deploy"]
        assert job["uses"] == "./.github/workflows/deploy.yml"
        assert job["with"]["tags"] in known, f"{path.name}: unknown tag {job['with']['tags']}"
        site = (ROOT / "playbooks" / "site.yml").read_text() + "".join(
            p.read_text() for p in (ROOT / "playbooks").glob("phase*.yml"))
        assert job["with"]["tags"] in site, f"{path.name}: tag {job['with']['tags']} is not used by site.yml"


def test_make_test_runs_the_newcomer_stage_and_shellcheck():
    """A set-up that works only because of this machine's leftovers must fail `make test`."""
    stages = (ROOT / "tests/harness/stages.py").read_text()
    assert 'Job("newcomer", stage_newcomer)' in stages
    assert "tests/harness/shellcheck.py" in stages
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert "make newcomer" in str(wf["jobs"]["newcomer"]["steps"])
