"""Put the Wagtail CMS image's wheels into its build context, downloaded on the host from PyPI.

kit.py calls prepare(img, ctx, kit) before `docker build` (the image's `prepare` hook), only when the
image is stale. HTTPS to PyPI fails inside containers here (the egress proxy re-signs TLS), so the
wheels are fetched on the host and the image installs them with `pip install --no-index`.

- `requirements.txt` (in this directory, so part of the recipe hash) is the whole lock: every
  distribution pinned by version, one sha256 each. Its top-level pins must be the ones in
  versions.json (img.pins["pypi"]).
- Each wheel is looked for in $BIZOSAAS_CACHE/wheels by name, version and sha256; the missing ones are
  downloaded there with `pip download --no-deps --only-binary=:all: --require-hashes` for CPython
  img.pins["python"] on img.pins["platform"] (not the host's Python), then copied into <ctx>/wheels.
  The image's `pip install --require-hashes` checks the hashes again.

`python images/wagtail-cms/prepare.py lock` regenerates requirements.txt from versions.json's pins:
pip resolves them for that Python and platform, and the hashes are those of the files pip downloaded
(pip checks them against PyPI's index while downloading).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
LOCK = "requirements.txt"
LOCK_HEADER = (
    "# The whole lock of the kit's Wagtail CMS image: every wheel by version and sha256.\n"
    "# Generated from images/versions.json (wagtail-cms.pypi) by `python images/wagtail-cms/prepare.py lock`;\n"
    "# do not edit by hand.\n"
)
_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)(?P<rest>(?:\s+--hash=\S+)+)\s*$")


class LockError(ValueError):
    """The lock or a wheel does not match its pin; the message names the distribution."""


class Req(NamedTuple):
    """One locked distribution. (A NamedTuple: kit.py loads this file without registering it in
    sys.modules, where a dataclass would look itself up.)"""

    name: str
    version: str
    hashes: tuple[str, ...]  # sha256 hex digests

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


# --------------------------------------------------------------------------- pure helpers
def normalize(name: str) -> str:
    """PEP 503 name normalisation, the way wheel file names spell it: Django, django_redis -> django, django-redis."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> list[Req]:
    """The requirements of a lock: one `name==version --hash=sha256:<hex> ...` per line; comments and
    blank lines ignored. Anything else (a range, a missing hash, another algorithm) is an error."""
    reqs: list[Req] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise LockError(f"{LOCK} line {number}: {raw.strip()!r} is not `name==version --hash=sha256:<hex>`")
        hashes = []
        for h in m["rest"].split():
            algo, _, digest = h.removeprefix("--hash=").partition(":")
            if algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise LockError(f"{LOCK} line {number}: {h!r} is not a sha256 hash")
            hashes.append(digest)
        name = normalize(m["name"])
        if name in seen:
            raise LockError(f"{LOCK} line {number}: {name} is pinned twice")
        seen.add(name)
        reqs.append(Req(name, m["version"], tuple(hashes)))
    return reqs


def check_pins(reqs: Iterable[Req], pins: Mapping[str, str]) -> None:
    """Every top-level pin of versions.json is in the lock with the same version."""
    locked = {r.name: r.version for r in reqs}
    problems = []
    for name, version in pins.items():
        got = locked.get(normalize(name))
        if got is None:
            problems.append(f"{name} is pinned to {version} in versions.json but is not in {LOCK}")
        elif got != version:
            problems.append(f"{name} is {version} in versions.json but {got} in {LOCK}")
    if problems:
        raise LockError("; ".join(problems) + " (regenerate it: python images/wagtail-cms/prepare.py lock)")


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(normalized name, version) of a wheel file name: Django-6.1.3-py3-none-any.whl -> (django, 6.1.3)."""
    if not filename.endswith(".whl") or filename.count("-") < 4:
        raise LockError(f"{filename} is not a wheel file name")
    name, version = filename.split("-")[:2]
    return normalize(name), version


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_wheel(req: Req, directory: Path) -> Path | None:
    """The wheel of req in directory whose sha256 is one of the lock's (another file of the same
    name and version, say another platform's build, does not count)."""
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob("*.whl")):
        try:
            if wheel_name_version(path.name) != (req.name, req.version):
                continue
        except LockError:
            continue
        if sha256_file(path) in req.hashes:
            return path
    return None


def lock_text(wheels: Iterable[Path]) -> str:
    """requirements.txt for these wheel files, sorted by name."""
    lines = {}
    for path in wheels:
        name, version = wheel_name_version(path.name)
        lines[name] = f"{name}=={version} --hash=sha256:{sha256_file(path)}"
    return LOCK_HEADER + "".join(lines[name] + "\n" for name in sorted(lines))


def pip_download_cmd(dest: Path, requirements: Path, python: str, platform: str, *, hashes: bool = True) -> list[str]:
    """pip download for the image's Python and platform (not the host's): binary wheels only."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--platform", platform,
           "--python-version", python, "--implementation", "cp", "--abi", "cp" + python.replace(".", ""),
           "--dest", str(dest), "-r", str(requirements)]
    if hashes:
        cmd[5:5] = ["--no-deps", "--require-hashes"]
    return cmd


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on path: the three versions prepare in parallel into one wheel cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------- the hook
def fetch_wheels(reqs: list[Req], cache: Path, python: str, platform: str, log: Callable[[str], None],
                 run: Callable[..., Any] = subprocess.run) -> list[Path]:
    """The verified wheel of every requirement, from cache/wheels, downloading the missing ones."""
    wheels = cache / "wheels"
    with locked(wheels / ".wagtail-cms.lock"):
        missing = [r for r in reqs if find_wheel(r, wheels) is None]
        if missing:
            log(f"pip download {len(missing)} wheel(s) for CPython {python} {platform}: "
                + ", ".join(r.spec for r in missing))
            with tempfile.TemporaryDirectory(prefix="wagtail-cms-") as tmp:
                req_file = Path(tmp) / LOCK
                req_file.write_text("".join(f"{r.spec} " + " ".join(f"--hash=sha256:{h}" for h in r.hashes) + "\n"
                                            for r in missing))
                proc = run(pip_download_cmd(wheels, req_file, python, platform), text=True, capture_output=True)
                if proc.returncode != 0:
                    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
                    raise LockError(f"pip download failed (exit {proc.returncode})\n{tail}")
        found = []
        for r in reqs:
            path = find_wheel(r, wheels)
            if path is None:
                raise LockError(f"{r.spec}: no wheel with the locked sha256 in {wheels} after pip download")
            found.append(path)
    return found


def prepare(img: Any, ctx: Path, kit: Any) -> None:
    """Fill ctx/wheels with the locked wheels (ctx is a copy of this recipe directory)."""
    def log(msg: str) -> None:
        kit.log(f"{img.ref}: {msg}")

    try:
        reqs = parse_lock((ctx / LOCK).read_text())
        check_pins(reqs, img.pins["pypi"])
        wheels = fetch_wheels(reqs, kit.CACHE, img.pins["python"], img.pins["platform"], log)
    except LockError as exc:
        raise kit.KitError(f"{img.ref}: wheels: {exc}") from None
    dest = ctx / "wheels"
    dest.mkdir(exist_ok=True)
    for path in wheels:
        shutil.copy2(path, dest / path.name)
    log(f"{len(wheels)} wheels (sha256 verified) from {kit.CACHE / 'wheels'}")


# --------------------------------------------------------------------------- regenerate the lock
def lock(versions: Path = HERE.parent / "versions.json", out: Path = HERE / LOCK) -> str:
    entry = json.loads(versions.read_text())["wagtail-cms"]
    with tempfile.TemporaryDirectory(prefix="wagtail-cms-lock-") as tmp:
        top = Path(tmp) / "top.txt"
        top.write_text("".join(f"{name}=={version}\n" for name, version in entry["pypi"].items()))
        dest = Path(tmp) / "wheels"
        subprocess.run(pip_download_cmd(dest, top, entry["python"], entry["platform"], hashes=False), check=True)
        text = lock_text(sorted(dest.glob("*.whl")))
    check_pins(parse_lock(text), entry["pypi"])
    out.write_text(text)
    return text


if __name__ == "__main__":
    if sys.argv[1:] != ["lock"]:
        sys.exit(f"usage: {sys.argv[0]} lock   (regenerate {HERE / LOCK} from versions.json)")
    print(lock(), end="")
