"""A warm kit run builds and pushes nothing, quickly (the issue's budget: under 10 s)."""

from __future__ import annotations

import subprocess
import time

from tests.kit.kitlib import KIT


def test_warm_all_is_a_fast_noop() -> None:
    start = time.monotonic()
    proc = subprocess.run(["python3", str(KIT), "all"], text=True, capture_output=True, timeout=600)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    if "cache hit" not in proc.stdout:  # the first run after a recipe change builds; the next must not
        start = time.monotonic()
        proc = subprocess.run(["python3", str(KIT), "all"], text=True, capture_output=True, timeout=600)
        elapsed = time.monotonic() - start
    assert "images are current (cache hit)" in proc.stdout, proc.stdout
    assert "0 image(s) pushed" in proc.stdout, proc.stdout
    assert elapsed < 10, f"warm run took {elapsed:.1f}s"
