"""images/kit.py without Docker: cache keys, failure messages, the image table."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from images import kit

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
    assert standins == {"probe", "dokploy-standin"}
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
