"""registry: a Docker daemon nested in a VPS container pulls a kit image from the local registry,
configured the way the docker role does it (insecure-registries in daemon.json)."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import yaml

from tests.harness import vps
from tests.kit.kitlib import ROOT, kit_ref

SPEC = yaml.safe_load((ROOT / "molecule/_shared/vps_container.yml").read_text())
REGISTRY = SPEC["bizosaas_vps_registry"]  # 172.28.0.1:5000, the test network's gateway


def test_nested_daemon_pulls_from_the_kit_registry() -> None:
    kit_ref("redis")
    subprocess.run(["python3", str(ROOT / "images/kit.py"), "push", "redis"], check=True, capture_output=True)
    tags = json.loads(urllib.request.urlopen("http://127.0.0.1:5000/v2/library/redis/tags/list", timeout=5).read())
    assert "7" in tags["tags"]
    with vps.running("kit-test-nested", image=kit_ref("vps-docker:bookworm"),
                     nested_docker=True) as host:
        daemon = json.dumps({"insecure-registries": [REGISTRY]})
        host.exec("sh", "-c", f"mkdir -p /etc/docker && echo '{daemon}' > /etc/docker/daemon.json", check=True)
        host.exec("systemctl", "start", "docker", check=True)
        pulled = host.exec("docker", "pull", f"{REGISTRY}/library/redis:7")
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        ran = host.exec("docker", "run", "--rm", f"{REGISTRY}/library/redis:7", "redis-server", "--version")
        assert ran.returncode == 0 and "Redis server v=7." in ran.stdout, ran.stdout + ran.stderr
