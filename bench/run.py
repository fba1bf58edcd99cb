#!/usr/bin/env python3
"""Platform benchmarks, measured side by side in ONE run on a fresh VPS container.

    python bench/run.py [--keep] [--rate 20] [--name bizosaas-bench]      (make bench)

 1. full site.yml run on a fresh VPS container (image kit and registry warm), over SSH as an
    operator runs it: the first run logs in as root, hardening switches it to the admin user
 2. no-op rerun over SSH as the admin user: changed=0, and its time as a fraction of (1)
    (target <= 15 %); 2b: the same no-op with the fast path off, every task run (target <= 30 %)
 3. tagged redeploy of coreldove with a new probe version (--tags coreldove), through Dokploy's API
    (the default deployer): time as a fraction of (1) (target <= 15 %), tasks run, and proof that
    the other platforms' container IDs did not change; 3b: the same redeploy with the direct Swarm
    deployer (platform_stack_deployer=swarm), side by side: time and failed requests
 4. zero downtime: every coreldove domain probed at --rate requests/s each from before to after
    the redeploy (target 0 failed); in the same run a naive `docker service update --force
    --update-order stop-first` must show failures (proof that the probe sees an outage)
 5. a broken version (FAIL_HEALTH=1) is rolled back by Swarm automatically: 0 failed requests
 6. `playbooks/rollback.yml -e platform=coreldove`: back to the previous image set, 0 failed
 7. idle RAM of Dokploy (its server and its Postgres), the edge, the shared data services and
    each platform
 8. the app contract with a real application: bizoholic's Wagtail CMS (the kit's build of the real
    Wagtail) from 1.0.0 to 2.0.0, whose migration adds a column, with `--tags bizoholic`, while a
    page Wagtail reads from its database is requested at --rate requests/s through Traefik: failed
    requests (target 0), the time from the play's start to the first answer from 2.0.0, and the
    migration job's own time. `--only app` measures only this (after (1), or on --reuse).

The platforms run the image kit's probe app, a STAND-IN for the real application images, except
bizoholic's wagtail-cms (the real Wagtail). Results are printed as a table and written to
bench/results/platforms-<time>.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.harness import demo, vps  # noqa: E402
from tests.harness.load import Load as PageLoad  # noqa: E402

PLATFORM = "coreldove"
OTHERS = ["bizoholic", "management"]
REGISTRY = "127.0.0.1:5000"
PROBE_REPO = "bizosaas-kit/probe"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- ansible runs
@dataclass
class Run:
    name: str
    seconds: float
    rc: int
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    tail: str = ""

    tasks: int = 0  # ok (which counts changed) + failed


def playbook(name: str, inventory: Path, play: str, *args: str, host: str, extra_env: dict | None = None) -> Run:
    cmd = ["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / play), *args]
    if demo.VAULT_PASS.exists() and not os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        cmd += ["--vault-password-file", str(demo.VAULT_PASS)]
    logf = ROOT / ".cache" / "logs" / f"bench-{name}.log"
    logf.parent.mkdir(parents=True, exist_ok=True)
    log(f"{name}: {' '.join(cmd[3:])}  (log {logf.relative_to(ROOT)})")
    env = demo.env()
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default", **(extra_env or {}))
    start = time.monotonic()
    with logf.open("w") as fh:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    secs = time.monotonic() - start
    text = logf.read_text(errors="replace")
    run = Run(name, secs, proc.returncode, tail="\n".join(text.splitlines()[-25:]))
    m = re.search(rf"^{re.escape(host)}\s*:\s*ok=(\d+)\s+changed=(\d+).*?failed=(\d+)\s+skipped=(\d+)", text, re.M)
    if m:
        run.ok, run.changed, run.failed, run.skipped = (int(x) for x in m.groups())
        run.tasks = run.ok + run.failed
    log(f"{name}: rc={run.rc} {secs:.0f}s ok={run.ok} changed={run.changed} failed={run.failed}")
    return run


# --------------------------------------------------------------------------- load probe
@dataclass
class Load:
    hosts: list[str]
    ip: str
    ca: Path | None
    rate: float
    sent: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = 0.0
    stopped: float = 0.0

    def _ctx(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca)) if self.ca else ssl._create_unverified_context()
        return ctx

    def _conn(self, host: str) -> http.client.HTTPSConnection:
        ip, ctx = self.ip, self._ctx()

        class Conn(http.client.HTTPSConnection):
            def connect(self) -> None:  # TCP to the VPS, TLS with the domain as SNI
                sock = socket.create_connection((ip, 443), timeout=10)
                self.sock = ctx.wrap_socket(sock, server_hostname=host)

        return Conn(host, 443, timeout=10, context=ctx)

    def _worker(self, host: str, period: float, offset: float) -> None:
        conn = self._conn(host)
        nxt = time.monotonic() + offset
        while not self._stop.is_set():
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            nxt += period
            err = None
            try:
                conn.request("GET", "/", headers={"Host": host})
                resp = conn.getresponse()
                resp.read()
                if not 200 <= resp.status < 300:
                    err = f"HTTP {resp.status}"
            except Exception as exc:  # connection reset, timeout, TLS...
                err = type(exc).__name__
                conn.close()
                conn = self._conn(host)
            with self._lock:
                self.sent += 1
                if err:
                    self.failed += 1
                    key = f"{host}: {err}"
                    self.errors[key] = self.errors.get(key, 0) + 1

    def start(self, workers_per_host: int = 2) -> Load:
        self.sent = self.failed = 0
        self.errors = {}
        self._stop.clear()
        period = workers_per_host / self.rate
        self._threads = [
            threading.Thread(target=self._worker, args=(h, period, i * period / workers_per_host), daemon=True)
            for h in self.hosts
            for i in range(workers_per_host)
        ]
        self.started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)
        self.stopped = time.monotonic()
        secs = self.stopped - self.started
        return {
            "requests": self.sent,
            "failed": self.failed,
            "seconds": round(secs, 1),
            "rate_per_domain": round(self.sent / secs / max(1, len(self.hosts)), 1),
            "errors": dict(sorted(self.errors.items())),
        }


# --------------------------------------------------------------------------- helpers
def vexec(name: str, *cmd: str) -> str:
    return subprocess.run(["docker", "exec", name, *cmd], text=True, capture_output=True, check=True).stdout


def container_ids(name: str, platform: str) -> list[str]:
    out = vexec(name, "docker", "ps", "-q", "--no-trunc", "--filter", f"label=org.bizosaas.platform={platform}")
    return sorted(out.split())


def infra_containers(name: str) -> list[str]:
    """IDs of every container that belongs to no platform (data services, Dokploy, Traefik)."""
    out = vexec(name, "docker", "ps", "--no-trunc", "--format", '{{.ID}} {{.Label "org.bizosaas.platform"}}')
    return sorted(line.split()[0] for line in out.splitlines() if line.strip() and len(line.split()) == 1)


def service_images(name: str, platform: str) -> dict[str, str]:
    out = vexec(
        name,
        "docker",
        "service",
        "ls",
        "--filter",
        f"label=com.docker.stack.namespace={platform}",
        "--format",
        "{{.Name}} {{.Image}}",
    )
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def push_probe_tag(tag: str) -> None:
    src, dst = f"{REGISTRY}/{PROBE_REPO}:1.0.0", f"{REGISTRY}/{PROBE_REPO}:{tag}"
    subprocess.run(["docker", "tag", "bizosaas-kit/probe:1.0.0", dst], check=True)
    subprocess.run(["docker", "push", "-q", dst], check=True, capture_output=True)
    log(f"pushed {dst} (the same stand-in build as {src}; APP_VERSION tells the versions apart)")


def memory(name: str) -> dict[str, float]:
    out = vexec(name, "docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}")
    groups: dict[str, float] = {}
    units = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}
    for line in out.splitlines():
        cname, usage = line.split(" ", 1)
        m = re.match(r"([\d.]+)(\w+)", usage)
        if not m:
            continue
        mib = float(m.group(1)) * units.get(m.group(2), 1)
        if cname.startswith("bizosaas-shared_"):
            g = "shared data (postgres, redis, temporal)"
        elif cname.startswith("dokploy-traefik"):
            g = "edge (traefik)"
        elif cname.startswith("dokploy-postgres"):
            g = "dokploy's postgres"
        elif cname.startswith("dokploy"):
            g = "dokploy (server)"
        elif cname.split("_", 1)[0] in ("bizoholic", "coreldove", "management"):
            g = f"platform {cname.split('_', 1)[0]}"
        else:
            g = "other"
        groups[g] = round(groups.get(g, 0) + mib, 1)
    return dict(sorted(groups.items()))


def probe_vars(version: str, fail: bool = False) -> str:
    svc = {
        "image": f"{PROBE_REPO}:{version}",
        "port": 8080,
        "memory": "64M",
        "reserve_memory": "16M",
        "cpus": "0.25",
        "healthcheck": ["CMD", "python3", "/app/probe.py", "--check"],
        # a stand-in runs its own command and no migration (the services' own are for the real images)
        "command": [],
        "migrate": [],
        "env": {"APP_VERSION": version, "CHECK_TIMEOUT": "2", **({"FAIL_HEALTH": "1"} if fail else {})},
    }
    return json.dumps({"bizosaas_probe_service": svc})


# --------------------------------------------------------------------------- 8: a real app
WAGTAIL_SLUG = "bench"


def wagtail_redeploy(name: str, inv: Path, ip: str, ca: Path, rate: float) -> dict:
    """(8) Wagtail 1.0.0 -> 2.0.0 (a migration) with --tags bizoholic under load on a real page."""
    host = next(h for p, s, h in demo.domains() if p == "bizoholic" and s == "wagtail-cms")
    cid = vexec(name, "docker", "ps", "-q", "--filter",
                "label=com.docker.swarm.service.name=bizoholic_wagtail-cms").split()[0]
    vexec(name, "docker", "exec", cid, "/bin/sh", "/run/bizosaas-env-shim", "python", "manage.py", "bizosaas_seed",
          "--title", "A page the benchmark reads", "--slug", WAGTAIL_SLUG)
    load = PageLoad(host, ip, str(ca), f"/{WAGTAIL_SLUG}/", rate).start()
    time.sleep(5)
    started = time.time()
    run = playbook("8-wagtail-2.0.0", inv, "site.yml", "--tags", "bizoholic", "-e", "bizosaas_wagtail_version=2.0.0",
                   host=name)
    time.sleep(5)
    res = load.stop()
    first = (res["versions"].get("2.0.0") or {}).get("first")
    text = vexec(name, "cat", "/var/lib/bizosaas-ops/deploy-history.jsonl")
    history = [json.loads(line) for line in text.splitlines() if line.strip()]
    last = [h for h in history if h.get("platform") == "bizoholic"][-1]
    migrations = last.get("migrations") or []
    run.tail = ""
    return {**run.__dict__, "load": {k: v for k, v in res.items() if k != "versions"},
            "versions": sorted(res["versions"]),
            "to_new_version_seconds": round(first - started, 1) if first else None,
            "migration": migrations[0] if migrations else None, "history_result": last.get("result")}


def platform_steps(a: argparse.Namespace, inv: Path, ip: str, ca: Path, results: dict) -> None:
    """(3)-(8) on the converged VPS: the tagged redeploys under load, the broken version, the rollback,
    the naive update, idle RAM, then the Wagtail redeploy with a migration."""
    hosts = [h for p, _, h in demo.domains() if p == PLATFORM]
    load = Load(hosts, ip, ca, a.rate)

    before = {p: container_ids(a.name, p) for p in OTHERS}
    infra_before = infra_containers(a.name)
    load.start()
    time.sleep(5)
    tagged = playbook("3-tagged", inv, "site.yml", "--tags", PLATFORM, "-e", probe_vars("1.0.1"), host=a.name)
    time.sleep(5)
    zd = load.stop()
    after = {p: container_ids(a.name, p) for p in OTHERS}
    infra_after = infra_containers(a.name)
    images = service_images(a.name, PLATFORM)
    results["tagged"] = {
        **tagged.__dict__,
        "others_unchanged": before == after,
        "other_containers": {p: len(ids) for p, ids in before.items()},
        "infra_unchanged": infra_before == infra_after,
        "infra_containers": len(infra_before),
        "images_after": images,
        "zero_downtime": zd,
    }

    # 3b: the same redeploy (to another version) with the direct Swarm deployer, side by side.
    load.start()
    time.sleep(5)
    direct = playbook("3b-tagged-direct", inv, "site.yml", "--tags", PLATFORM, "-e", probe_vars("1.0.3"),
                      "-e", "platform_stack_deployer=swarm", host=a.name)
    time.sleep(5)
    results["tagged_direct"] = {**direct.__dict__, "zero_downtime": load.stop(),
                                "images_after": service_images(a.name, PLATFORM)}

    load.start()
    time.sleep(3)
    broken = playbook(
        "5-broken", inv, "site.yml", "--tags", PLATFORM, "-e", probe_vars("1.0.2", fail=True), host=a.name
    )
    time.sleep(3)
    results["broken"] = {
        **broken.__dict__,
        "load": load.stop(),
        "images_after": service_images(a.name, PLATFORM),
        "rolled_back_in_log": "rolled_back" in broken.tail,
    }

    load.start()
    time.sleep(3)
    rb = playbook("6-rollback", inv, "rollback.yml", "-e", f"platform={PLATFORM}", host=a.name)
    time.sleep(3)
    results["rollback"] = {**rb.__dict__, "load": load.stop(), "images_after": service_images(a.name, PLATFORM)}

    # Last: a naive update leaves stop-first in the services' PreviousSpec, which Swarm would
    # roll back to; measured after the start-first deploys so that it cannot taint them.
    log("naive: docker service update --force --update-order stop-first on each coreldove service")
    load.start()
    time.sleep(3)
    for svc in images:
        subprocess.run(
            [
                "docker",
                "exec",
                a.name,
                "docker",
                "service",
                "update",
                "--force",
                "--quiet",
                "--update-order",
                "stop-first",
                svc,
            ],
            capture_output=True,
            text=True,
        )
    time.sleep(5)
    results["naive"] = load.stop()

    time.sleep(20)
    results["memory_mib"] = memory(a.name)

    # (8) last: it moves bizoholic to another version, which nothing above measures.
    results["wagtail"] = wagtail_redeploy(a.name, inv, ip, ca, a.rate)

# --------------------------------------------------------------------------- main
def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="bizosaas-bench")
    ap.add_argument("--rate", type=float, default=20.0, help="requests/s per domain (default 20)")
    ap.add_argument("--keep", action="store_true", help="keep the VPS container afterwards")
    ap.add_argument("--only", choices=["all", "app"], default="all",
                    help="app: only (8), the Wagtail redeploy with a migration (after (1), or on --reuse)")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="use the running, converged container --name and skip (1) and (2) (quick iteration only)",
    )
    a = ap.parse_args(argv)
    rate = f" --rate {a.rate:g}" if a.rate != 20 else ""
    only = f" --only {a.only}" if a.only != "all" else ""
    results: dict = {"command": f"make bench  (python bench/run.py{rate}{only})", "only": a.only}

    log("image kit (warm registry): python images/kit.py all")
    subprocess.run([demo.PY, str(ROOT / "images/kit.py"), "all"], check=True, env=demo.env())
    demo.ensure_vault()
    push_probe_tag("1.0.1")
    push_probe_tag("1.0.2")
    push_probe_tag("1.0.3")

    work = Path(tempfile.mkdtemp(prefix="bizosaas-bench-"))
    (work / "group_vars").mkdir()
    (work / "group_vars" / "all").symlink_to(demo.INVENTORY / "group_vars" / "all")

    if a.reuse:
        log(f"reusing the converged VPS container {a.name} (figures 1 and 2 are not measured)")
        v = vps.Vps(a.name, demo.IMAGE)
        results["command"] += f"  [--reuse --name {a.name}: (1) and (2) skipped]"
    else:
        log(f"fresh VPS container {a.name}")
        v = vps.start(a.name, image=demo.IMAGE, nested_docker=True)
    # Over SSH, as an operator: the operator's key is root's on the fresh VPS (as a provider sets it
    # up) and the admin user's after hardening; the inventory logs in as the admin user.
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench-operator", "-f", str(key)], check=True)
    pub = key.with_suffix(".pub").read_text().strip()
    if not a.reuse:
        subprocess.run(["docker", "exec", a.name, "sh", "-c", "umask 077; mkdir -p /root/.ssh; "
                        f"printf '%s\\n' '{pub}' > /root/.ssh/authorized_keys"], check=True)
    inv = work / "hosts.yml"
    inv.write_text(
        "all:\n  children:\n    bizosaas:\n      children:\n        swarm_managers:\n          hosts:\n"
        f"            {a.name}:\n              ansible_host: {v.ip}\n              ansible_user: deploy\n"
        f"              ansible_ssh_private_key_file: {key}\n"
        "              ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null\n"
        f"              hardening_admin_authorized_keys: ['{pub}']\n"
        "        swarm_workers:\n          hosts: {}\n"
    )
    try:
        if not a.reuse:
            full = playbook("1-full", inv, "site.yml", host=a.name)
            if full.rc != 0:
                print(full.tail)
                raise SystemExit("the full site run failed; see the log")
            results["full"] = full.__dict__
        if not a.reuse and a.only == "all":
            noop = playbook("2-noop", inv, "site.yml", host=a.name)
            results["noop"] = noop.__dict__
            # The same no-op with every task run (the fast path off), to show what the stamps save.
            every = {"BIZOSAAS_FAST_PATH": "false"}
            slow = playbook("2b-noop-every-task", inv, "site.yml", host=a.name, extra_env=every)
            results["noop_every_task"] = slow.__dict__

        ip = v.ip
        ca = work / "ca.crt"
        subprocess.run(["docker", "cp", f"{a.name}:{demo.CA_ON_VPS}", str(ca)], check=True, capture_output=True)
        if a.only == "app":
            results["wagtail"] = wagtail_redeploy(a.name, inv, ip, ca, a.rate)
        else:
            platform_steps(a, inv, ip, ca, results)
    finally:
        if not a.keep and not a.reuse:
            vps.stop(a.name)
    suffix = "-reuse" if a.reuse else ""
    out = ROOT / "bench" / "results" / f"platforms-{time.strftime('%Y%m%dT%H%M%S')}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    for k in ("full", "noop", "noop_every_task", "tagged", "tagged_direct", "broken", "rollback"):
        results.get(k, {}).pop("tail", None)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"results: {out.relative_to(ROOT)}")
    report(results)
    return 0


def pct(x: float, y: float) -> str:
    return f"{100 * x / y:.1f} %" if y else "n/a"


def wagtail_row(w: dict) -> tuple[str, str, str, str]:
    mig = w.get("migration") or {}
    serve = w.get("to_new_version_seconds")
    return (
        "8 Wagtail 1.0.0 -> 2.0.0, --tags bizoholic",
        f"{w['seconds']:.0f} s",
        f"{w['load']['failed']} failed / {w['load']['requests']}",
        f"2.0.0 served {serve} s after the play started; migration job {mig.get('seconds', '?')} s "
        f"({mig.get('result', 'none')}); rc={w['rc']}; {w['load']['rate']} req/s",
    )


def report(r: dict) -> None:
    if r.get("only") == "app":
        print("\n=== bizosaas-ops benchmark (8): the Wagtail redeploy with a migration ===")
        print(f"reproduce: {r['command']}")
        if "full" in r:
            print(f"{'1 full site.yml, fresh VPS':38} {r['full']['seconds']:>5.0f} s")
        row = wagtail_row(r["wagtail"])
        print(f"{row[0]:38} {row[1]:>7}  {row[2]:30} {row[3]}")
        if r["wagtail"]["load"]["errors"]:
            print(f"errors: {r['wagtail']['load']['errors']}")
        return
    na = {"seconds": 0.0, "changed": "n/a", "ok": "n/a"}
    full, noop, tagged = r.get("full", na), r.get("noop", na), r["tagged"]
    zd, naive, broken, rb = tagged["zero_downtime"], r["naive"], r["broken"], r["rollback"]
    dzd = r["tagged_direct"]["zero_downtime"]
    print("\n=== bizosaas-ops platform benchmarks (one run, one fresh VPS container) ===")
    print(f"reproduce: {r['command']}")
    rows = [
        ("1 full site.yml, fresh VPS", f"{full['seconds']:.0f} s", f"changed={full['changed']} ok={full['ok']}", ""),
        (
            "2 no-op rerun",
            f"{noop['seconds']:.0f} s",
            f"changed={noop['changed']}",
            f"{pct(noop['seconds'], full['seconds'])} of (1), target <= 15 %",
        ),
        (
            "2b no-op, every task (fast path off)",
            f"{r.get('noop_every_task', na)['seconds']:.0f} s",
            f"changed={r.get('noop_every_task', na)['changed']}",
            f"{pct(r.get('noop_every_task', na)['seconds'], full['seconds'])} of (1), target <= 30 %",
        ),
        (
            "3 --tags coreldove, new version",
            f"{tagged['seconds']:.0f} s",
            f"{tagged['tasks']} tasks, changed={tagged['changed']}",
            f"{pct(tagged['seconds'], full['seconds'])} of (1), target <= 15 %",
        ),
        (
            "  other platforms' containers",
            "",
            "unchanged" if tagged["others_unchanged"] else "CHANGED",
            ", ".join(f"{p}: {n}" for p, n in tagged["other_containers"].items()),
        ),
        (
            "  shared infra containers",
            "",
            "unchanged" if tagged["infra_unchanged"] else "CHANGED",
            f"{tagged['infra_containers']} containers (data, Dokploy, Traefik)",
        ),
        (
            "4 zero downtime (start-first)",
            f"{zd['seconds']:.0f} s",
            f"{zd['failed']} failed / {zd['requests']}",
            f"{zd['rate_per_domain']} req/s per domain",
        ),
        (
            "3b the same, direct Swarm deployer",
            f"{r['tagged_direct']['seconds']:.0f} s",
            f"{dzd['failed']} failed / {dzd['requests']}",
            f"through Dokploy {tagged['seconds']:.0f} s vs direct {r['tagged_direct']['seconds']:.0f} s "
            f"({pct(tagged['seconds'], r['tagged_direct']['seconds'])})",
        ),
        (
            "  naive --force stop-first",
            f"{naive['seconds']:.0f} s",
            f"{naive['failed']} failed / {naive['requests']}",
            "the probe sees outages" if naive["failed"] else "NO FAILURES SEEN",
        ),
        (
            "5 broken version (FAIL_HEALTH)",
            f"{broken['seconds']:.0f} s",
            f"{broken['load']['failed']} failed / {broken['load']['requests']}",
            f"play rc={broken['rc']} (expected != 0), rolled back={broken['rolled_back_in_log']}",
        ),
        (
            "6 rollback.yml -e platform=coreldove",
            f"{rb['seconds']:.0f} s",
            f"{rb['load']['failed']} failed / {rb['load']['requests']}",
            f"rc={rb['rc']}",
        ),
    ]
    if "wagtail" in r:
        rows.append(wagtail_row(r["wagtail"]))
    for row in rows:
        print(f"{row[0]:38} {row[1]:>7}  {row[2]:30} {row[3]}")
    print("7 idle RAM (MiB):")
    for g, mib in r["memory_mib"].items():
        print(f"  {g:40} {mib:8.1f}")
    for label, res in (("zero downtime", zd), ("direct", dzd), ("naive", naive),
                       ("broken", broken["load"]), ("rollback", rb["load"])):
        if res["errors"]:
            print(f"errors during {label}: {res['errors']}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
