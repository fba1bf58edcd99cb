"""Start and stop throwaway "VPS" containers the same way Molecule's create playbook does.

The container settings come from molecule/_shared/vps_container.yml, so Molecule, the bad-input
suite, the image-kit tests, the demo and the benchmarks all start identical VPSes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "molecule/_shared/vps_container.yml").read_text())


def docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=capture)


@dataclass
class Vps:
    name: str
    image: str

    @property
    def ip(self) -> str:
        out = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", self.name).stdout
        nets = json.loads(out)
        return nets[SPEC["bizosaas_vps_network"]]["IPAddress"]

    def exec(self, *cmd: str, check: bool = False) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *cmd, check=check)

    def inventory(self, path: Path, group_vars: dict | None = None, shared: bool = True) -> Path:
        """Write a one-host inventory using the community.docker.docker connection.

        `path` is the hosts file; with `shared`, its folder also links the top-level
        group_vars/all as group_vars/all/00_shared, exactly as the real inventories do."""
        if shared:
            gv = path.parent / "group_vars" / "all"
            gv.mkdir(parents=True, exist_ok=True)
            link = gv / "00_shared"
            if not link.exists():
                link.symlink_to(ROOT / "group_vars" / "all")
        inv = {
            "all": {
                "hosts": {
                    self.name: {
                        "ansible_connection": "community.docker.docker",
                        "ansible_host": self.name,
                        "ansible_user": "root",
                    }
                },
                "vars": group_vars or {},
            }
        }
        path.write_text(yaml.safe_dump(inv))
        return path


def ensure_network() -> None:
    net = SPEC["bizosaas_vps_network"]
    if docker("network", "inspect", net, check=False).returncode != 0:
        docker(
            "network", "create", "--subnet", SPEC["bizosaas_vps_subnet"],
            "--gateway", SPEC["bizosaas_vps_gateway"], net,
        )


def start(name: str, image: str = "bizosaas-kit/vps:bookworm", nested_docker: bool = False,
          publish: list[str] | None = None, volumes: list[str] | None = None) -> Vps:
    """Start a systemd VPS container (never privileged) and wait until systemd has booted."""
    ensure_network()
    docker("rm", "-f", "-v", name, check=False)
    cmd = ["run", "-d", "--name", name, "--hostname", name, "--network", SPEC["bizosaas_vps_network"],
           "--cgroupns=host", "--stop-signal", "SIGRTMIN+3", "--label", "org.bizosaas.test=harness"]
    for cap in SPEC["bizosaas_vps_capabilities"]:
        cmd += ["--cap-add", cap]
    for opt in SPEC["bizosaas_vps_security_opts"]:
        cmd += ["--security-opt", opt]
    for t in SPEC["bizosaas_vps_tmpfs"]:
        cmd += ["--tmpfs", t]
    for v in SPEC["bizosaas_vps_volumes"] + (volumes or []):
        cmd += ["-v", v]
    if nested_docker:
        cmd += ["-v", "/var/lib/docker"]
    for p in publish or []:
        cmd += ["-p", p]
    cmd.append(image)
    docker(*cmd)
    vps = Vps(name, image)
    deadline = time.monotonic() + 120
    state = ""
    while time.monotonic() < deadline:
        state = vps.exec("systemctl", "is-system-running").stdout.strip()
        if state in ("running", "degraded"):
            return vps
        time.sleep(0.5)
    raise RuntimeError(f"VPS container {name} did not finish booting (systemd state {state!r})")


def stop(name: str) -> None:
    docker("rm", "-f", "-v", name, check=False)


@contextlib.contextmanager
def running(name: str, **kw) -> Iterator[Vps]:
    vps = start(name, **kw)
    try:
        yield vps
    finally:
        stop(name)
