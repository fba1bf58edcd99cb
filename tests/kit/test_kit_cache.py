"""A warm kit run builds and pushes nothing. (How fast that is belongs to bench/, not to a test:
a wall-clock assertion would fail on a loaded machine without anything being wrong.)"""

from __future__ import annotations

import subprocess

from tests.kit.kitlib import KIT


def kit_all() -> subprocess.CompletedProcess:
    return subprocess.run(["python3", str(KIT), "all"], text=True, capture_output=True, timeout=900)


def test_warm_all_builds_and_pushes_nothing() -> None:
    proc = kit_all()
    assert proc.returncode == 0, proc.stderr
    if "cache hit" not in proc.stdout:  # the first run after a recipe change builds; the next must not
        proc = kit_all()
        assert proc.returncode == 0, proc.stderr
    assert "images are current (cache hit)" in proc.stdout, proc.stdout
    assert "0 image(s) pushed" in proc.stdout, proc.stdout
    assert ": built in " not in proc.stdout, proc.stdout
