#!/usr/bin/env python3
"""Run the test stages and print a table of each stage's wall time.

    stages.py all                  images, lint, unit, newcomer, kit, badinput, molecule (`make test`)
    stages.py lint | unit | kit | badinput | newcomer
    stages.py molecule [SCENARIO ...]

Every stage runs even if an earlier one failed (so one run reports everything), except that the
stages needing images are skipped when the image kit failed. Logs go to .cache/logs/. The last
line is "N passed, N failed" over stages and scenarios; the exit code is non-zero on any failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".cache" / "logs"
VENV_BIN = ROOT / ".venv" / "bin"
# Scenarios run side by side: most of their time is spent waiting on systemd, apt and Docker,
# not on the CPU. Default 3 (BIZOSAAS_MOLECULE_JOBS=N to change; the stage table shows the effect).
JOBS = int(os.environ.get("BIZOSAAS_MOLECULE_JOBS", "3"))
_print_lock = threading.Lock()


@dataclass
class Result:
    name: str
    ok: bool
    seconds: float
    detail: str = ""
    children: list[Result] = field(default_factory=list)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{VENV_BIN}:{e.get('PATH', '')}"
    e["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    e.setdefault("ANSIBLE_FORCE_COLOR", "0")
    e["PY_COLORS"] = "0"
    e["NO_COLOR"] = "1"
    return e


def say(msg: str) -> None:
    with _print_lock:
        print(msg, flush=True)


def run_logged(name: str, cmd: list[str], tail_on_fail: int = 60) -> Result:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    say(f"==> {name}: {' '.join(cmd)}  (log: {log.relative_to(ROOT)})")
    start = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, cwd=ROOT, env=env(), stdout=fh, stderr=subprocess.STDOUT)
    secs = time.monotonic() - start
    ok = proc.returncode == 0
    text = log.read_text(errors="replace")
    summary = ""
    for line in reversed(text.splitlines()):
        if " passed" in line or " failed" in line or "SCENARIO RECAP" in line or "Found" in line:
            summary = line.strip(" =")
            break
    if not ok:
        tail = "\n".join(text.splitlines()[-tail_on_fail:])
        say(f"--- {name} FAILED (rc={proc.returncode}), last {tail_on_fail} lines of {log.name}:\n{tail}\n---")
    say(f"<== {name}: {'ok' if ok else 'FAILED'} in {secs:.0f}s {summary}")
    return Result(name, ok, secs, summary)


def stage_images() -> Result:
    return run_logged("images", [sys.executable, "images/kit.py", "all"])


def stage_lint() -> Result:
    start = time.monotonic()
    parts = [
        run_logged("lint-yamllint", ["yamllint", "--strict", "."]),
        run_logged("lint-ansible-lint", ["ansible-lint", "--profile", "production", "--offline"]),
        run_logged("lint-ruff", ["ruff", "check", "."]),
        run_logged("lint-shellcheck", [sys.executable, "tests/harness/shellcheck.py"]),
    ]
    return Result("lint", all(p.ok for p in parts), time.monotonic() - start, children=parts)


def stage_pytest(name: str, path: str, extra: list[str] | None = None) -> Result:
    target = ROOT / path
    if not target.exists() or not any(target.rglob("test_*.py")):
        say(f"<== {name}: FAILED, no tests in {path}")
        return Result(name, False, 0.0, f"no tests in {path}")
    return run_logged(name, ["pytest", "-q", "-p", "no:cacheprovider", path, *(extra or [])])


def stage_newcomer() -> Result:
    """The set-up of both commands on a bare container (tests/harness/newcomer.py)."""
    return run_logged("newcomer", [sys.executable, "tests/harness/newcomer.py"])


def scenarios() -> list[str]:
    found = (ROOT / "molecule").glob("*/molecule.yml")
    return sorted(p.parent.name for p in found if not p.parent.name.startswith("_"))


# Expected wall time (s) of each pooled job, used only to start the longest first (the classic
# longest-processing-time rule: the pool then ends close to the longest job's own time). Each run
# records what it measured in .cache/stage-times.json, which overrides these seeds next time.
TIMES = ROOT / ".cache" / "stage-times.json"
SEED_SECONDS = {  # a warm CI run (clean clone, 2 cores, 3 at a time) on 2026-12-03
    "molecule-site": 3005, "molecule-data_services": 1848, "molecule-backup": 1249, "molecule-hardening": 1232,
    "molecule-platform_app": 1080, "molecule-dokploy": 900, "badinput": 502, "kit": 409, "molecule-traefik": 378,
    "molecule-docker_engine": 218, "molecule-swarm_multi": 175, "newcomer": 89, "molecule-swarm": 85,
}


def expected_seconds() -> dict[str, float]:
    seen: dict[str, float] = dict(SEED_SECONDS)
    with contextlib.suppress(OSError, ValueError):
        seen.update({k: float(v) for k, v in json.loads(TIMES.read_text()).items()})
    return seen


def record_seconds(results: list[Result]) -> None:
    with contextlib.suppress(OSError, ValueError):
        seen = json.loads(TIMES.read_text()) if TIMES.exists() else {}
        seen.update({r.name: round(r.seconds) for r in results if r.ok})
        TIMES.parent.mkdir(parents=True, exist_ok=True)
        TIMES.write_text(json.dumps(seen, indent=1, sort_keys=True) + "\n")


@dataclass
class Job:
    name: str
    run: Callable[[], Result]


def molecule_job(name: str) -> Job:
    return Job(f"molecule-{name}", lambda: run_logged(f"molecule-{name}", ["molecule", "test", "-s", name]))


def pool(jobs: list[Job], workers: int) -> list[Result]:
    """Run the jobs `workers` at a time, longest expected first; results in the jobs' order."""
    expect = expected_seconds()
    order = sorted(jobs, key=lambda j: -expect.get(j.name, 300))
    say(f"--- pool of {workers}: " + ", ".join(f"{j.name} (~{fmt(expect.get(j.name, 300))})" for j in order))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        futures = {j.name: ex.submit(j.run) for j in order}
        results = [futures[j.name].result() for j in jobs]
    record_seconds(results)
    return results


def stage_molecule(names: list[str]) -> Result:
    names = names or scenarios()
    unknown = sorted(set(names) - set(scenarios()))
    if unknown:
        say(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(scenarios())}")
        return Result("molecule", False, 0.0, "unknown scenario")
    start = time.monotonic()
    results = pool([molecule_job(n) for n in names], JOBS)
    return Result("molecule", all(r.ok for r in results), time.monotonic() - start, children=results)


def stage_all() -> list[Result]:
    """Everything `make test` runs. Lint and unit need no images, so they run while the kit builds
    (a cold build mostly waits on debootstrap and apt). Then the kit's tests, the bad-input suite
    and every Molecule scenario share one pool, so the short jobs fill the gaps beside the long
    `site` and `data_services` scenarios instead of waiting for a stage boundary."""
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as ex:
        img_f = ex.submit(stage_images)
        fast_f = ex.submit(lambda: [stage_lint(), stage_pytest("unit", "tests/unit")])
        img = img_f.result()
        lint, unit = fast_f.result()
    results = [img, lint, unit]
    if not img.ok:
        for name in ("newcomer", "kit", "badinput", "molecule"):
            results.append(Result(name, False, 0.0, "skipped: the image kit failed"))
        return results
    jobs = [
        Job("newcomer", stage_newcomer),
        Job("kit", lambda: stage_pytest("kit", "tests/kit")),
        Job("badinput", lambda: stage_pytest("badinput", "tests/bad_input")),
        *(molecule_job(n) for n in scenarios()),
    ]
    pool_start = time.monotonic()
    done = pool(jobs, JOBS)
    results += done[:3]
    mol = done[3:]
    pool_secs = time.monotonic() - pool_start
    results.append(Result("molecule", all(r.ok for r in mol), pool_secs, "(the shared pool's wall time)", children=mol))
    say(f"--- all stages done in {fmt(time.monotonic() - start)}")
    return results


def table(results: list[Result], total: float) -> str:
    rows = []
    for r in results:
        rows.append((r.name, "ok" if r.ok else "FAILED", r.seconds, r.detail))
        for c in r.children:
            rows.append((f"  {c.name}", "ok" if c.ok else "FAILED", c.seconds, c.detail))
    width = max(len(r[0]) for r in [*rows, ("total", "", 0, "")]) + 2
    out = [f"{'stage':<{width}} {'result':<7} {'wall time':>10}  detail", "-" * (width + 40)]
    for name, res, secs, detail in rows:
        out.append(f"{name:<{width}} {res:<7} {fmt(secs):>10}  {detail[:60]}")
    out.append("-" * (width + 40))
    out.append(f"{'total':<{width}} {'':<7} {fmt(total):>10}")
    return "\n".join(out)


def fmt(secs: float) -> str:
    m, s = divmod(round(secs), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def count(results: list[Result]) -> tuple[int, int]:
    leaves = [c for r in results for c in (r.children or [r])]
    return sum(r.ok for r in leaves), sum(not r.ok for r in leaves)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    what, rest = argv[0], argv[1:]
    start = time.monotonic()
    results: list[Result] = []
    if what == "all":
        results += stage_all()
    elif what == "lint":
        results.append(stage_lint())
    elif what == "newcomer":
        results.append(stage_newcomer())
    elif what in ("unit", "kit", "badinput"):
        path = {"unit": "tests/unit", "kit": "tests/kit", "badinput": "tests/bad_input"}[what]
        results.append(stage_pytest(what, path, rest))
    elif what == "molecule":
        results.append(stage_molecule(rest))
    else:
        print(__doc__)
        return 2
    total = time.monotonic() - start
    print("\n" + table(results, total))
    passed, failed = count(results)
    print(f"\n{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
