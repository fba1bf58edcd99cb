#!/usr/bin/env python3
"""`make demo`: the whole toolkit on a local container acting as the VPS.

    demo.py up       build the image kit, start the VPS container `bizosaas-demo` (Debian 12,
                     nested Docker), run playbooks/site.yml with inventories/local, print every
                     domain's status. A second `up` reuses the container and changes nothing.
    demo.py status   only the table of domains
    demo.py down [--purge]   remove the container (--purge: also its Docker volume)

The platforms run the image kit's probe app, a STAND-IN for the real application images, except
bizoholic's CMS, the real Wagtail (the kit's build, images/wagtail-cms); Dokploy is the real server
(v0.30.2, built from source by the image kit), with its owner account from the vault.
Certificates come from a self-signed CA kept on the VPS; it is copied to .demo/ca.crt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.harness import vps  # noqa: E402

NAME = os.environ.get("BIZOSAAS_DEMO_NAME", "bizosaas-demo")
IMAGE = "bizosaas-kit/vps:bookworm"
INVENTORY = ROOT / "inventories" / "local"
VAULT = INVENTORY / "group_vars" / "all" / "vault.yml"
VAULT_PASS = INVENTORY / ".vault-pass"
DEMO_DIR = ROOT / ".demo"
CA_ON_VPS = "/var/lib/bizosaas-ops/traefik/ca/ca.crt"
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{ROOT / '.venv' / 'bin'}:{e.get('PATH', '')}"
    e["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return e


def local_domain() -> str:
    data = yaml.safe_load((INVENTORY / "group_vars/all/local.yml").read_text())
    return data["bizosaas_domain"]


def domains(domain: str | None = None) -> list[tuple[str, str, str]]:
    """[(platform, service, host)] from group_vars/all/platforms.yml for the local domain."""
    domain = domain or local_domain()
    text = (ROOT / "group_vars/all/platforms.yml").read_text()
    text = re.sub(r"\{\{\s*bizosaas_domain\s*\}\}", domain, text)
    platforms = yaml.safe_load(text)["bizosaas_platforms"]
    rows = []
    for pname, p in platforms.items():
        if not p.get("enabled", True):
            continue
        for sname, s in p["services"].items():
            for h in s.get("hosts") or []:
                rows.append((pname, sname, h))
    return rows


def container_running(name: str) -> bool:
    proc = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name], text=True, capture_output=True)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def ensure_vps() -> vps.Vps:
    if container_running(NAME):
        say(f"reusing the VPS container {NAME}")
        return vps.Vps(NAME, IMAGE)
    say(f"starting the VPS container {NAME} ({IMAGE}, nested Docker, network {vps.SPEC['bizosaas_vps_network']})")
    return vps.start(NAME, image=IMAGE, nested_docker=True)


def ensure_vault() -> None:
    if VAULT.exists():
        return
    say("generating a throwaway vault for the demo (random, encrypted; password in inventories/local/.vault-pass)")
    # As a module: run as a script, tests/harness/secrets.py would shadow the stdlib `secrets`.
    subprocess.run([PY, "-m", "tests.harness.secrets", str(INVENTORY)], check=True, env=env(), cwd=ROOT)


def run_site(extra: list[str]) -> int:
    cmd = ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "playbooks/site.yml")]
    if VAULT_PASS.exists() and not os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        cmd += ["--vault-password-file", str(VAULT_PASS)]
    cmd += extra
    say(" ".join(cmd[:4]) + " ...")
    start = time.monotonic()
    recap = ""
    with subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        for line in proc.stdout:  # shown as it comes; the host's recap line is kept for the summary
            sys.stdout.write(line)
            if re.match(rf"^{re.escape(NAME)}\s*:\s*ok=", line):
                recap = line
    counts = dict(re.findall(r"(ok|changed|failed)=(\d+)", recap))
    summary = ", ".join(f"{k}={counts[k]}" for k in ("ok", "changed", "failed") if k in counts)
    if counts.get("changed") == "0" and proc.returncode == 0:
        summary += ": nothing changed"
    detail = f", {summary}" if summary else ""
    say(f"site.yml finished in {time.monotonic() - start:.0f}s (rc={proc.returncode}{detail})")
    return proc.returncode


def first_backup() -> bool:
    """The demo's first backup (what `make backup ENV=local` runs), where it went, and how to restore it."""
    cmd = ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "playbooks/backup.yml"), "-e", "op=run"]
    if VAULT_PASS.exists() and not os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        cmd += ["--vault-password-file", str(VAULT_PASS)]
    say("first backup: make backup ENV=local (playbooks/backup.yml -e op=run)")
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True)
    status = subprocess.run(["docker", "exec", NAME, "cat", "/var/lib/bizosaas-ops/backup/status.json"],
                            capture_output=True, text=True)
    try:
        backup = json.loads(status.stdout)["backup"]
    except (ValueError, KeyError):
        print(proc.stdout[-3000:] + proc.stderr[-2000:])
        say("the first backup FAILED (no status file on the VPS)")
        return False
    for name, repo in backup.get("repositories", {}).items():
        where = repo.get("snapshot") or repo.get("error", "failed")
        print(f"  repository {name}: snapshot {where}")
    config = subprocess.run(["docker", "exec", NAME, "cat", "/var/lib/bizosaas-ops/backup/config.json"],
                            capture_output=True, text=True)
    with contextlib.suppress(ValueError, KeyError):
        for repo in json.loads(config.stdout)["repositories"]:
            print(f"  {repo['name']}: {repo['url']} on {NAME} (encrypted with vault_backup_restic_password)")
    print(f"  result {backup.get('result')} in {backup.get('duration_s')} s; status: "
          f"docker exec {NAME} bizosaas-backup status")
    print("  list:    make backups ENV=local")
    print("  restore: make restore ENV=local PLATFORM=coreldove CONFIRM=overwrite-coreldove_platform")
    print("  drill:   make restore-drill ENV=local   (into scratch Postgres and Redis, never the live ones)")
    print("  The demo keeps one local repository; add an off-host one in bizosaas_backup_repositories.")
    return backup.get("result") == "ok"


def fetch_ca() -> Path | None:
    DEMO_DIR.mkdir(exist_ok=True)
    dest = DEMO_DIR / "ca.crt"
    proc = subprocess.run(["docker", "cp", f"{NAME}:{CA_ON_VPS}", str(dest)], capture_output=True, text=True)
    return dest if proc.returncode == 0 else None


def probe(host: str, ip: str, ca: Path | None) -> tuple[str, str]:
    cmd = ["curl", "-sS", "--max-time", "8", "--resolve", f"{host}:443:{ip}",
           "-w", "\n%{http_code} %header{x-app-version}"]
    cmd += ["--cacert", str(ca)] if ca else ["-k"]
    cmd.append(f"https://{host}/")
    proc = subprocess.run(cmd, text=True, capture_output=True)
    if proc.returncode != 0:
        return "ERR", proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"curl rc={proc.returncode}"
    body, _, last = proc.stdout.rpartition("\n")
    code, _, version = last.partition(" ")
    try:
        info = json.loads(body)
        detail = f"{info.get('service', '?')} v{info.get('version', '?')} (stand-in)"
    except ValueError:
        detail = f"a real application v{version}" if version else body[:40]
    return code, detail


def table(ip: str, ca: Path | None) -> bool:
    rows = domains()
    width = max(len(h) for _, _, h in rows)
    print(f"\n{'domain':{width}}  {'platform':10}  {'service':20}  status  answer")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 20}  ------  ------")
    ok = True
    for pname, sname, host in rows:
        code, detail = probe(host, ip, ca)
        ok &= code.startswith("2")
        print(f"{host:{width}}  {pname:10}  {sname:20}  {code:6}  {detail}")
    print()
    return ok


def trust_hint(ca: Path | None, ip: str) -> None:
    if not ca:
        print("(the self-signed CA was not found on the VPS; curl used -k)")
        return
    rel = ca.relative_to(ROOT)
    print(f"The demo's certificates come from a local CA, copied to {rel}. To trust it:")
    print(f"  curl:    curl --cacert {rel} --resolve {domains()[0][2]}:443:{ip} https://{domains()[0][2]}/")
    print(f"  Debian:  sudo cp {rel} /usr/local/share/ca-certificates/bizosaas-demo.crt && sudo update-ca-certificates")
    print("  Browser: import it as an authority (Settings > Certificates), and map the names in /etc/hosts:")
    print(f"           {ip} " + " ".join(h for _, _, h in domains()) + f" dokploy.{local_domain()}")
    email = yaml.safe_load((INVENTORY / "group_vars/all/local.yml").read_text()).get("bizosaas_acme_email", "?")
    rel_vault, rel_pass = VAULT.relative_to(ROOT), VAULT_PASS.relative_to(ROOT)
    panel = f"dokploy.{local_domain()}"
    print(f"Dokploy (the real v0.30.2, built from source): https://{panel}/ (map it to {ip} in /etc/hosts)")
    print("  first the edge's basic auth: user admin, vault_traefik_dokploy_panel_password;")
    print(f"  then Dokploy's own login: {email}, vault_dokploy_owner_password. Both are in the vault:")
    print(f"  .venv/bin/ansible-vault view {rel_vault} --vault-password-file {rel_pass}"
          " | grep -E 'dokploy_(owner|panel)'")
    print("  Port 3000 answers the VPS itself only (no container, no neighbour): `docker exec` into it for curl.")
    print("  the platforms are its projects bizoholic-platform, coreldove-platform, bizosaas-management (plus")
    print("  bizosaas-shared-infrastructure); each platform's stack is its project's compose.")
    cms = next((h for p, s, h in domains() if s == "wagtail-cms"), None)
    if cms:
        print(f"Wagtail (the real CMS): https://{cms}/admin/  an admin user: docker exec {NAME} sh -c 'docker exec -it "
              "$(docker ps -q -f label=com.docker.swarm.service.name=bizoholic_wagtail-cms) /bin/sh "
              "/run/bizosaas-env-shim python manage.py createsuperuser'")
    print("Tear down: make demo-clean [PURGE=1]")


def cmd_up(extra: list[str]) -> int:
    start = time.monotonic()
    say("image kit: python images/kit.py all (cached: a warm run builds nothing)")
    subprocess.run([PY, str(ROOT / "images/kit.py"), "all"], check=True, env=env())
    v = ensure_vps()
    ensure_vault()
    rc = run_site(extra)
    ip = v.ip
    ca = fetch_ca()
    ok = table(ip, ca)
    trust_hint(ca, ip)
    if rc == 0:
        ok = first_backup() and ok
    say(f"demo {'ready' if rc == 0 and ok else 'FAILED'} in {time.monotonic() - start:.0f}s")
    return rc or (0 if ok else 1)


def cmd_status() -> int:
    if not container_running(NAME):
        print(f"{NAME} is not running: make demo")
        return 1
    ip = vps.Vps(NAME, IMAGE).ip
    return 0 if table(ip, fetch_ca()) else 1


def cmd_down(purge: bool) -> int:
    if purge:
        vps.stop(NAME)
    else:
        subprocess.run(["docker", "rm", "-f", NAME], capture_output=True)
    say(f"removed {NAME}" + (" and its volumes" if purge else ""))
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["up", "status", "down"])
    ap.add_argument("--purge", action="store_true")
    a, extra = ap.parse_known_args(argv)
    if a.command == "up":
        return cmd_up(extra)
    if a.command == "status":
        return cmd_status()
    return cmd_down(a.purge)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
