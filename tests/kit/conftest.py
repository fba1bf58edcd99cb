"""Fixtures for the image-kit tests (marker `kit`): real containers, real clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kit.kitlib import NETWORK, Containers, docker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/kit/" in str(item.fspath):
            item.add_marker(pytest.mark.kit)


@pytest.fixture(scope="session")
def network() -> Iterator[str]:
    if docker("network", "inspect", NETWORK, check=False).returncode != 0:
        docker("network", "create", NETWORK)
    yield NETWORK


@pytest.fixture
def containers(network: str) -> Iterator[Containers]:
    c = Containers()
    try:
        yield c
    finally:
        c.cleanup()
