#!/usr/bin/env python3
"""Backup benchmark, measured side by side in ONE run on a fresh VPS container (`make bench` runs it
after bench/run.py; `make bench-backup` alone).

    python bench/backup.py [--gib 1.0] [--suite trixie|bookworm] [--keep] [--name backup-bench]

 1. a database of about --gib GiB of generated rows (coreldove_platform.bench_orders), on the kit's
    real PostgreSQL 17 + pgvector, with the backup role (restic from Debian) and one local repository
 2. the first backup (`bizosaas-backup run`: every dump with its fingerprint, then restic): wall time,
    repository growth (du of the repository), what restic says it added
 3. 1 % of the rows changed the way an orders table changes (the most recent 1 %: half updated, half
    new rows), then a second backup: time and growth, as a share of the first (target: well under 10 %)
 4. for comparison, 1 % of the rows updated uniformly across the table (every 100th row): a logical
    dump changes in every ~1 MiB chunk restic cuts, so deduplication cannot help there
 5. the restore of that database (`bizosaas-backup restore --platform coreldove`: restic restore,
    pg_restore into a new database, the fingerprint compared, the swap, the check): wall time = the
    measured RTO for that size

Results are printed as a table with the ratios and written to bench/results/backup-<time>.{json,txt}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.harness import vps  # noqa: E402

REPO = "/var/backups/bizosaas-ops/restic"
DB = "coreldove_platform"
ROW_BYTES = 260  # on disk, per generated row (measured: a 4M-row table is about 1.0 GiB with its index)


def log(msg: str) -> None:
    print(f"[bench-backup {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(host: str, script: str, check: bool = True, timeout: float = 7200) -> str:
    """Run a bash script on the VPS (its stdin), return stdout."""
    proc = subprocess.run(["docker", "exec", "-i", host, "bash", "-s"], input=script, text=True,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(f"on {host} failed (rc={proc.returncode}):\n{script[:400]}\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-2000:]}")
    return proc.stdout


def psql(host: str, sql: str) -> str:
    return sh(host, "pg=$(docker ps -q -f label=com.docker.swarm.service.name=bizosaas-shared_postgres "
                    f"-f status=running | head -n1)\ndocker exec -i -u postgres \"$pg\" psql -X -q -A -t "
                    f"-v ON_ERROR_STOP=1 -d {DB} <<'SQL'\n{sql}\nSQL\n")


def repo_bytes(host: str) -> int:
    return int(sh(host, f"du -sb {REPO} | cut -f1").strip())


def runner(host: str, *args: str) -> tuple[dict, float]:
    start = time.monotonic()
    out = sh(host, "bizosaas-backup " + " ".join(args) + " --json", check=False)
    secs = time.monotonic() - start
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"bizosaas-backup {' '.join(args)} printed no result:\n{out[-2000:]}") from None
    if result.get("result") != "ok":
        raise SystemExit(f"bizosaas-backup {' '.join(args)}: {result.get('result')}: {result.get('lines')}")
    return result, secs


def inventory(tmp: Path, host: vps.Vps) -> Path:
    inv = tmp / "inv"
    host.inventory(inv / "hosts.yml")
    (inv / "group_vars" / "all" / "10_bench.yml").write_text(yaml.safe_dump({
        "bizosaas_registry": "172.28.0.1:5000",
        "bizosaas_insecure_registries": ["172.28.0.1:5000"],
        "docker_engine_source": "debian",
        "bizosaas_dokploy_enabled": False,
        "postgres_memory_fraction": 0.1,
        "redis_maxmemory_mb": 64,
        "bizosaas_backup_schedule": "*-01-01 00:00:00",
        **{f"vault_postgres_{n}_password": f"bench-{n}-pw" for n in
           ("superuser", "bizoholic", "coreldove", "management", "temporal", "analytics")},
        **{f"vault_redis_{n}_password": f"bench-r{n}-pw" for n in ("default", "bizoholic", "coreldove", "management")},
        "vault_backup_restic_password": "bench-restic-pw",
    }))
    return inv


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=1.0, help="size of the generated table (GiB on disk)")
    ap.add_argument("--suite", default="trixie", choices=["bookworm", "trixie"])
    ap.add_argument("--name", default="backup-bench")
    ap.add_argument("--keep", action="store_true", help="keep the VPS container")
    a = ap.parse_args(argv)
    rows = int(a.gib * (1 << 30) / ROW_BYTES)
    results: dict = {"suite": a.suite, "rows": rows, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    subprocess.run(["docker", "rm", "-f", a.name], capture_output=True)
    host = vps.start(a.name, image=f"bizosaas-kit/vps-docker:{a.suite}", nested_docker=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inv = inventory(Path(tmp), host)
            log("set-up: engine, swarm, Postgres, Redis and the backup role (bench/backup_setup.yml)")
            env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_CACHE_PLUGIN": "memory",
                   "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin"}
            start = time.monotonic()
            proc = subprocess.run(["ansible-playbook", "-i", str(inv), str(ROOT / "bench/backup_setup.yml")],
                                  cwd=ROOT, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stdout[-4000:] + proc.stderr[-2000:])
            results["setup_s"] = round(time.monotonic() - start, 1)
        results["restic"] = sh(a.name, "restic version").strip()

        log(f"generating {rows} rows (about {a.gib} GiB) in {DB}.bench_orders")
        start = time.monotonic()
        psql(a.name, f"""
CREATE TABLE bench_orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12, 2) NOT NULL,
  placed timestamptz NOT NULL, status text NOT NULL, note text NOT NULL);
INSERT INTO bench_orders SELECT g, (g * 7919) % 100000, (g % 100000) / 100.0,
  timestamptz '2025-01-01 00:00:00+00' + g * interval '7 seconds', (ARRAY['new', 'paid', 'shipped'])[1 + g % 3],
  md5(g::text) || ' ' || md5((g * 31)::text) || ' ' || md5((g * 97)::text) || ' ' || md5((g * 131)::text)
FROM generate_series(1::bigint, {rows}) g;
ANALYZE bench_orders;""")
        results["generate_s"] = round(time.monotonic() - start, 1)
        results["table_bytes"] = int(psql(a.name, "SELECT pg_total_relation_size('bench_orders')").strip())
        log(f"table: {fmt_bytes(results['table_bytes'])} in {results['generate_s']} s")

        base = repo_bytes(a.name)
        log("backup 1 (everything)")
        first, results["backup1_s"] = runner(a.name, "run")
        results["repo_after_1"] = repo_bytes(a.name)
        results["growth1"] = results["repo_after_1"] - base
        results["dump1_bytes"] = first.get("dump_bytes")
        results["added1"] = first["repositories"]["local"].get("added_bytes")

        n1 = rows // 100
        log(f"1 % of the rows changed like an orders table: the newest {n1 // 2} updated, {n1 - n1 // 2} new rows")
        psql(a.name, f"""
UPDATE bench_orders SET status = 'refunded', amount = amount + 1 WHERE id > {rows - n1 // 2};
INSERT INTO bench_orders SELECT g, (g * 7919) % 100000, (g % 100000) / 100.0,
  timestamptz '2025-01-01 00:00:00+00' + g * interval '7 seconds', 'new',
  md5(g::text) || ' ' || md5((g * 31)::text) || ' ' || md5((g * 97)::text) || ' ' || md5((g * 131)::text)
FROM generate_series({rows + 1}::bigint, {rows + n1 - n1 // 2}) g;""")
        log("backup 2 (after 1 % changed, recent rows)")
        second, results["backup2_s"] = runner(a.name, "run")
        results["repo_after_2"] = repo_bytes(a.name)
        results["growth2"] = results["repo_after_2"] - results["repo_after_1"]
        results["added2"] = second["repositories"]["local"].get("added_bytes")

        log("1 % of the rows updated uniformly (every 100th row), for comparison")
        psql(a.name, "UPDATE bench_orders SET amount = amount + 1 WHERE id % 100 = 0;")
        _, results["backup3_s"] = runner(a.name, "run")
        results["repo_after_3"] = repo_bytes(a.name)
        results["growth3"] = results["repo_after_3"] - results["repo_after_2"]

        log(f"restore {DB} (the coreldove platform) from the latest snapshot")
        restore, results["restore_s"] = runner(a.name, "restore", "--platform", "coreldove", "--snapshot", "latest",
                                               "--confirm", f"overwrite-{DB}")
        results["restore_steps"] = [(s["name"], s["seconds"]) for s in restore.get("steps", [])]
        results["rows_after_restore"] = int(psql(a.name, "SELECT count(*) FROM bench_orders").strip())
    finally:
        if not a.keep:
            vps.stop(a.name)
    report(results)
    return 0


def report(r: dict) -> None:
    g1, g2, g3 = r["growth1"], r["growth2"], r["growth3"]
    lines = [
        f"backup benchmark ({r['suite']}, {r['restic']}), {r['rows']} generated rows, "
        f"table {fmt_bytes(r['table_bytes'])} (with its index)",
        f"{'step':<44} {'wall time':>10} {'repo growth':>12} {'vs first':>9}",
        f"{'first backup (everything)':<44} {r['backup1_s']:>9.1f}s {fmt_bytes(g1):>12} {'100 %':>9}",
        f"{'second, after 1 % changed (recent rows)':<44} {r['backup2_s']:>9.1f}s {fmt_bytes(g2):>12} "
        f"{100 * g2 / g1:>7.1f} %",
        f"{'third, after 1 % updated uniformly':<44} {r['backup3_s']:>9.1f}s {fmt_bytes(g3):>12} "
        f"{100 * g3 / g1:>7.1f} %",
        f"{'restore of ' + DB + ' (RTO of the data)':<44} {r['restore_s']:>9.1f}s",
        "",
        f"second / first growth: {g2 / g1:.3f} (target: well under 0.10); uniform 1 %: {g3 / g1:.3f}",
        f"restore / first backup time: {r['restore_s'] / r['backup1_s']:.2f}; dump {fmt_bytes(r['dump1_bytes'] or 0)}, "
        f"restic added {fmt_bytes(r['added1'] or 0)} then {fmt_bytes(r['added2'] or 0)}",
        "restore steps: " + ", ".join(f"{n} {s:.1f}s" for n, s in r["restore_steps"]),
        f"rows after the restore: {r['rows_after_restore']} "
        f"(expected {r['rows'] + r['rows'] // 100 - r['rows'] // 200})",
        "reproduce: make bench-backup   (python bench/backup.py --gib 1.0 --suite " + r["suite"] + ")",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"backup-{stamp}.txt").write_text(text + "\n")
    (out / f"backup-{stamp}.json").write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
