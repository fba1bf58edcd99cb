"""bizosaas.ops.image_ref: tags are required, and one registry setting redirects every image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter.images import FilterModule, image_ref, parse_image

from images import kit

REG = "172.28.0.1:5000"


@pytest.mark.parametrize(
    ("ref", "registry", "expected"),
    [
        ("pgvector/pgvector:pg17", "", "pgvector/pgvector:pg17"),
        ("pgvector/pgvector:pg17", REG, f"{REG}/pgvector/pgvector:pg17"),
        ("redis:7-bookworm", REG, f"{REG}/library/redis:7-bookworm"),
        ("docker.io/library/redis:7", REG, f"{REG}/library/redis:7"),
        ("traefik:v3.7.15", REG, f"{REG}/library/traefik:v3.7.15"),
        ("ghcr.io/org/app:1.2.3", REG, f"{REG}/org/app:1.2.3"),
        ("localhost:5000/bizosaas-kit/probe:1.0.0", "mirror.example", "mirror.example/bizosaas-kit/probe:1.0.0"),
        ("postgres:17", f"{REG}/", f"{REG}/library/postgres:17"),
        ("redis@sha256:" + "a" * 64, REG, f"{REG}/library/redis@sha256:" + "a" * 64),
        ("redis:7@sha256:" + "b" * 64, REG, f"{REG}/library/redis:7@sha256:" + "b" * 64),
    ],
)
def test_image_ref_rewrites_to_the_registry(ref: str, registry: str, expected: str) -> None:
    assert image_ref(ref, registry) == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("redis", "has no tag"),
        ("pgvector/pgvector", "has no tag"),
        ("localhost:5000/probe", "has no tag"),
        ("redis:latest", "moving tag 'latest'"),
        ("Redis:7", "not a valid image reference"),
        ("", "an image reference is required"),
    ],
)
def test_image_ref_refuses_bad_references(ref: str, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message) as err:
        image_ref(ref, REG, name="dokploy_postgres_image")
    assert "dokploy_postgres_image" in str(err.value)  # the error names the variable


def test_tagless_error_says_how_to_fix() -> None:
    with pytest.raises(AnsibleFilterError, match=r"redis:<version>"):
        parse_image("redis", "redis_image")


def test_filter_is_registered() -> None:
    assert FilterModule().filters()["image_ref"] is image_ref


def test_kit_pushes_every_image_where_the_filter_points() -> None:
    """The contract between the kit and the roles: for each name the kit pushes, image_ref with the
    kit's registry gives exactly the repository:tag that the kit pushed."""
    targets = [t for img in kit._images().values() for t in img.push_as]
    assert targets
    for target in targets:
        repo, tag = kit.registry_path(target)
        assert image_ref(target, REG) == f"{REG}/{repo}:{tag}"
    versions = json.loads((Path(kit.__file__).parent / "versions.json").read_text())
    for name in ("postgres", "redis", "traefik"):
        assert versions[name]["upstream"] in targets
