#!/usr/bin/env python3
"""The `newcomer` stage of `make test`: the set-up of `make demo` and `make test` on a bare machine.

CI runs on the developers' own machine, with its leftovers (Docker networks, caches, packages), so
a set-up that only works because of them would pass there and fail for a newcomer. This stage
starts a throwaway container from the kit's plain VPS image (Debian 12, nothing of the project
installed), gives it only what a fresh machine of this kind has (git, make, the machine's CA
certificates for its HTTPS proxy), clones this repository into it and runs `make bootstrap` there
twice: the venv, apt (docker.io, debootstrap, ...), dockerd started without systemd (as on these
machines, where PID 1 is not systemd) and the first `docker info`. It fails if any of that fails,
if the second run is not a no-op, or if the new daemon has anything but Docker's own networks.

    newcomer.py [--keep] [--rev COMMIT]
        --keep   leave the container for inspection
        --rev    clone that commit instead (e.g. an older one, to see this stage catch its bug)

What is cloned is HEAD plus the uncommitted changes to tracked files (`git stash create`), so a
developer tests what they are about to commit; CI, on a clean clone, tests main exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.harness import vps  # noqa: E402

NAME = os.environ.get("BIZOSAAS_NEWCOMER_NAME", "bizosaas-newcomer")
IMAGE = "bizosaas-kit/vps:bookworm"
# What a fresh machine of this kind has before the project's own files install anything
# (/work/.library/env: CPython with venv, git, make; its HTTPS goes through a re-signing proxy whose
# CA the machine trusts). python3-venv is left out on purpose: bootstrap.sh must install it.
BASELINE = ["git", "make"]
CA_DIRS = [Path("/usr/local/share/ca-certificates")]
PROXY_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PIP_DEFAULT_TIMEOUT",
             "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY")


def say(msg: str) -> None:
    print(f"==> newcomer: {msg}", flush=True)


def sh(container: str, script: str, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    cmd = ["docker", "exec"]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    cmd += [container, "bash", "-euo", "pipefail", "-c", script]
    proc = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"`{script.strip().splitlines()[0]}` failed (rc={proc.returncode}):\n{out[-4000:]}")
    return out


def bundle(dest: Path, rev: str | None = None) -> str:
    """A git bundle of `rev`, or of HEAD plus the uncommitted changes to tracked files; returns its commit."""
    commit = rev or subprocess.run(["git", "stash", "create"], cwd=ROOT, text=True, capture_output=True).stdout.strip()
    commit = commit or subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, text=True,
                                      capture_output=True, check=True).stdout.strip()
    subprocess.run(["git", "update-ref", "refs/bizosaas/newcomer", commit], cwd=ROOT, check=True)
    try:
        subprocess.run(["git", "bundle", "create", "-q", str(dest), "refs/bizosaas/newcomer"],
                       cwd=ROOT, check=True, capture_output=True)
    finally:
        subprocess.run(["git", "update-ref", "-d", "refs/bizosaas/newcomer"], cwd=ROOT, check=False)
    return commit


def start() -> None:
    """A bare machine: the VPS image without systemd as PID 1 (like this machine kind), its own
    empty /var/lib/docker, no cache volume, on the test network only to reach the mirrors."""
    vps.ensure_network()
    subprocess.run(["docker", "rm", "-f", "-v", NAME], capture_output=True)
    cmd = ["docker", "run", "-d", "--name", NAME, "--hostname", NAME, "--network", vps.SPEC["bizosaas_vps_network"],
           "--cgroupns=host", "--label", "org.bizosaas.test=newcomer", "-v", "/var/lib/docker"]
    for cap in vps.SPEC["bizosaas_vps_capabilities"]:
        cmd += ["--cap-add", cap]
    for opt in vps.SPEC["bizosaas_vps_security_opts"]:
        cmd += ["--security-opt", opt]
    for t in vps.SPEC["bizosaas_vps_tmpfs"]:
        cmd += ["--tmpfs", t]
    for v in vps.SPEC["bizosaas_vps_volumes"]:
        cmd += ["-v", v]
    cmd += [IMAGE, "sleep", "infinity"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    rev = argv[argv.index("--rev") + 1] if "--rev" in argv else None
    started = time.monotonic()
    env = {k: os.environ[k] for k in PROXY_ENV if k in os.environ}
    try:
        say(f"starting a bare machine ({IMAGE}, PID 1 not systemd, empty /var/lib/docker)")
        start()
        say(f"the machine's baseline: apt-get install {' '.join(BASELINE)}, and its CA certificates")
        for d in CA_DIRS:
            if d.is_dir():
                subprocess.run(["docker", "cp", f"{d}/.", f"{NAME}:{d}"], check=True, capture_output=True)
        sh(NAME, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                 f"--no-install-recommends {' '.join(BASELINE)} >/dev/null && update-ca-certificates >/dev/null")
        leftovers = sh(NAME, "command -v docker dockerd debootstrap || true; "
                             "ls -d /root/bizosaas-ops 2>/dev/null || true")
        if leftovers.strip():
            raise RuntimeError(f"the bare machine is not bare: {leftovers.strip()}")
        with tempfile.TemporaryDirectory() as tmp:
            b = Path(tmp) / "repo.bundle"
            commit = bundle(b, rev)
            subprocess.run(["docker", "cp", str(b), f"{NAME}:/root/repo.bundle"], check=True, capture_output=True)
        say(f"git clone of {commit[:12]}" + ("" if rev else " (HEAD and the uncommitted changes to tracked files)"))
        sh(NAME, "git init -q -b main /root/bizosaas-ops && cd /root/bizosaas-ops "
                 "&& git fetch -q /root/repo.bundle refs/bizosaas/newcomer && git reset -q --hard FETCH_HEAD")
        say("make bootstrap (venv, apt, dockerd, docker info), as `make demo` and `make test` run it first")
        first = sh(NAME, "cd /root/bizosaas-ops && make bootstrap", env=env, timeout=1500)
        print(first, end="")
        say("make bootstrap again: everything must already be there")
        second = sh(NAME, "cd /root/bizosaas-ops && make bootstrap", env=env)
        print(second, end="")
        for word in ("installing", "apt-get install", "starting dockerd"):
            if word in second:
                raise RuntimeError(f"the second `make bootstrap` was not a no-op (it said {word!r}):\n{second}")
        info = sh(NAME, "docker info --format '{{.ServerVersion}} {{.Driver}}'; "
                        "docker network ls --format '{{.Name}}' | sort | tr '\\n' ' '").split("\n")
        networks = set(info[1].split())
        if networks != {"bridge", "host", "none"}:
            raise RuntimeError(f"a fresh daemon should have only Docker's own networks, found: {sorted(networks)}")
        say(f"passed in {time.monotonic() - started:.0f}s: docker {info[0]}, networks {sorted(networks)}")
        return 0
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or ""
        say(f"FAILED: {exc}\n{detail}")
        return 1
    finally:
        if not keep:
            subprocess.run(["docker", "rm", "-f", "-v", NAME], capture_output=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
