"""Bad input to the kit itself: each gives a clear error naming what is wrong."""

from __future__ import annotations

import os
import socket
import subprocess

from tests.kit.kitlib import KIT


def kit(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["python3", str(KIT), *args], text=True, capture_output=True, timeout=120,
                          env={**os.environ, **env})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_debian_mirror_is_named(tmp_path) -> None:
    mirror = f"http://127.0.0.1:{free_port()}/debian"  # nothing listens there
    proc = kit("build", "debian:bookworm", BIZOSAAS_DEBIAN_MIRROR=mirror, BIZOSAAS_CACHE=str(tmp_path))
    assert proc.returncode == 1
    assert f"bizosaas-kit/debian:bookworm: the Debian mirror {mirror} is unreachable" in proc.stderr
    assert "BIZOSAAS_DEBIAN_MIRROR" in proc.stderr


def test_registry_port_taken_by_something_else(tmp_path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        proc = kit("registry", BIZOSAAS_REGISTRY_PORT=str(port), BIZOSAAS_CACHE=str(tmp_path))
    assert proc.returncode == 1
    assert f"port {port} is already taken by something that is not a registry" in proc.stderr
    assert "BIZOSAAS_REGISTRY_PORT" in proc.stderr


def test_unknown_image_name(tmp_path) -> None:
    proc = kit("build", "no-such-image", BIZOSAAS_CACHE=str(tmp_path))
    assert proc.returncode == 1 and "unknown image 'no-such-image'" in proc.stderr
