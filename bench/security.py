#!/usr/bin/env python3
"""Security benchmark: a stock VPS container against one hardened by playbooks/hardening.yml.

For each Debian suite it starts two throwaway VPS containers (the same way Molecule does), runs the
hardening playbook on one, then measures both from outside with ssh-audit (pinned in the venv) and
inside with Debian's lynis (installed as a measuring tool after the run), and prints the figures:
ssh-audit fail/warn counts, the Lynis hardening index, its test count and version, and the ratio.

    .venv/bin/python bench/security.py                # bookworm and trixie
    .venv/bin/python bench/security.py --suite trixie --keep

The stock container gets host keys first (`ssh-keygen -A`, as the openssh-server package does on a
real install) so its sshd can be audited at all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import vps  # noqa: E402

VENV_BIN = Path(sys.executable).parent
ADMIN = "benchadmin"


def ssh_audit(ip: str, port: int = 22) -> dict:
    audit = shutil.which("ssh-audit", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}") or "ssh-audit"
    out = subprocess.run([audit, "-j", "-p", str(port), ip], capture_output=True, text=True, timeout=180, check=False)
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        return {"fail": None, "warn": None, "error": (out.stderr or out.stdout).strip()[:200]}
    fail = warn = 0
    for section in ("kex", "key", "enc", "mac"):
        for alg in data.get(section, []):
            notes = alg.get("notes", {})
            fail += len(notes.get("fail", []))
            warn += len(notes.get("warn", []))
    fail += len(data.get("cves", []))
    return {"fail": fail, "warn": warn, "banner": (data.get("banner") or {}).get("software")}


def lynis(box: vps.Vps) -> dict:
    box.exec(
        "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lynis", check=True
    )
    box.exec("sh", "-c", "lynis audit system --quick --no-colors > /tmp/lynis.out 2>&1")
    report = box.exec("cat", "/var/log/lynis-report.dat", check=True).stdout
    values = dict(line.split("=", 1) for line in report.splitlines() if "=" in line and not line.startswith("#"))
    return {
        "index": int(values.get("hardening_index", "0")),
        "tests": int(values.get("lynis_tests_done", "0")),
        "version": values.get("lynis_version", "?"),
    }


def prepare_stock(box: vps.Vps) -> None:
    box.exec("sh", "-c", "apt-get update -qq", check=True)
    box.exec("sh", "-c", "ssh-keygen -A && systemctl restart ssh", check=True)


def harden(box: vps.Vps, workdir: Path) -> float:
    key = workdir / f"{box.name}_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)], check=True)
    inventory = box.inventory(workdir / f"{box.name}.yml")
    extra = {
        "hardening_admin_user": ADMIN,
        "hardening_admin_authorized_keys": [key.with_suffix(".pub").read_text().strip()],
        "hardening_swap_size_mb": 64,
    }
    (workdir / f"{box.name}.json").write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    started = time.monotonic()
    proc = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(inventory),
            str(ROOT / "playbooks/hardening.yml"),
            "-e",
            f"@{workdir / f'{box.name}.json'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hardening {box.name} failed:\n" + "\n".join(proc.stdout.splitlines()[-40:]))
    return time.monotonic() - started


def measure(box: vps.Vps) -> dict:
    return {"ssh": ssh_audit(box.ip), "lynis": lynis(box)}


def run_suite(suite: str, keep: bool, workdir: Path) -> dict:
    image = f"bizosaas-kit/vps:{suite}"
    stock = vps.start(f"bench-sec-stock-{suite}", image=image)
    hard = vps.start(f"bench-sec-hard-{suite}", image=image)
    try:
        with ThreadPoolExecutor(2) as pool:
            f_stock = pool.submit(prepare_stock, stock)
            f_hard = pool.submit(harden, hard, workdir)
            f_stock.result()
            converge_s = f_hard.result()
        with ThreadPoolExecutor(2) as pool:
            m_stock, m_hard = pool.map(measure, [stock, hard])
        return {"suite": suite, "stock": m_stock, "hardened": m_hard, "converge_s": converge_s}
    finally:
        if not keep:
            vps.stop(stock.name)
            vps.stop(hard.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=["bookworm", "trixie", "both"], default="both")
    ap.add_argument("--keep", action="store_true", help="keep the containers for inspection")
    args = ap.parse_args()
    suites = ["bookworm", "trixie"] if args.suite == "both" else [args.suite]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-security-") as tmp:
        for suite in suites:
            print(f"== {suite}: starting a stock and a hardened VPS container ...", flush=True)
            results.append(run_suite(suite, args.keep, Path(tmp)))
    print()
    header = f"{'suite':9} {'target':9} {'ssh-audit fail':>14} {'warn':>5} {'Lynis index':>11} {'tests':>6}  lynis"
    print(header)
    print("-" * len(header))
    ok = True
    for r in results:
        for target in ("stock", "hardened"):
            m = r[target]
            print(
                f"{r['suite']:9} {target:9} {m['ssh']['fail']!s:>14} {m['ssh']['warn']!s:>5} "
                f"{m['lynis']['index']:>11} {m['lynis']['tests']:>6}  {m['lynis']['version']}"
            )
        s, h = r["stock"], r["hardened"]
        ratio = h["lynis"]["index"] / s["lynis"]["index"] if s["lynis"]["index"] else float("nan")
        before = (s["ssh"]["fail"] or 0) + (s["ssh"]["warn"] or 0)
        after = (h["ssh"]["fail"] or 0) + (h["ssh"]["warn"] or 0)
        print(
            f"{r['suite']:9} ratio     Lynis hardened/stock = {ratio:.2f}x; ssh-audit findings {before} -> {after}; "
            f"converge {r['converge_s']:.0f}s"
        )
        ok = ok and h["ssh"]["fail"] == 0 and h["ssh"]["warn"] == 0 and h["lynis"]["index"] >= 80
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
