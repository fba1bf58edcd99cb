"""Helpers for the image-kit tests: real containers from the kit's images, real clients.

Every container is named `kit-test-*` and removed afterwards (with its anonymous volumes).
The images must exist (`python3 images/kit.py build`); a missing one fails the test with that hint.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "images" / "kit.py"
NETWORK = "kit-test-net"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], text=True, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def kit_ref(name: str) -> str:
    """The host tag of a kit image: kit_ref('postgres') -> bizosaas-kit/postgres:17-pgvector,
    kit_ref('vps-docker:trixie') -> bizosaas-kit/vps-docker:trixie."""
    out = subprocess.run(["python3", str(KIT), "list"], text=True, capture_output=True, check=True).stdout
    for line in out.splitlines():
        ref = line.split()[0]
        if name in (ref.split("/", 1)[1], ref.split("/", 1)[1].split(":")[0]):
            if docker("image", "inspect", ref, check=False).returncode != 0:
                pytest.fail(f"image {ref} is not built: run `python3 images/kit.py build {name}`")
            return ref
    raise KeyError(name)


def get_json(url: str) -> tuple[int, dict]:
    """GET url; (status, parsed JSON body), also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def container_ip(name: str) -> str:
    nets = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name).stdout)
    return nets[NETWORK]["IPAddress"]


def logs(name: str) -> str:
    p = docker("logs", "--tail", "40", name, check=False)
    return p.stdout + p.stderr


def wait_for(what: str, probe: Callable[[], object], timeout: float = 60, interval: float = 0.5,
             container: str | None = None) -> object:
    """Call probe until it returns a truthy value without raising; fail naming `what` (and
    showing the container's log tail)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
            last = result
        except Exception as exc:
            last = exc
        time.sleep(interval)
    tail = f"\n--- docker logs {container} ---\n{logs(container)}" if container else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{tail}")


def health(name: str) -> str:
    return docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", name).stdout.strip()


class Containers:
    """Start kit-test-* containers on the test network; remove them all at teardown."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.volumes: list[str] = []
        self.suffix = uuid.uuid4().hex[:6]

    def name(self, role: str) -> str:
        return f"kit-test-{role}-{self.suffix}"

    def volume(self, role: str) -> str:
        vol = f"kit-test-{role}-{self.suffix}"
        docker("volume", "create", vol)
        self.volumes.append(vol)
        return vol

    def run(self, role: str, image: str, *args: str, env: dict[str, str] | None = None,
            opts: list[str] | None = None) -> str:
        name = self.name(role)
        cmd = ["run", "-d", "--name", name, "--hostname", role, "--network", NETWORK,
               "--network-alias", role, "--label", "org.bizosaas.test=kit"]
        for k, v in (env or {}).items():
            cmd += ["-e", f"{k}={v}"]
        cmd += [*(opts or []), image, *args]
        docker(*cmd)
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for name in reversed(self.names):
            docker("rm", "-f", "-v", name, check=False)
        for vol in self.volumes:
            docker("volume", "rm", "-f", vol, check=False)
