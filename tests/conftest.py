"""Shared fixtures: the shared DICOM corpus, settings on a temporary folder, index databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lienthong.settings import Settings, load_settings
from tests.support.server import REPO_ROOT

SHARED_DICOM = REPO_ROOT.parent / "shared" / "data" / "dicom"


@pytest.fixture(scope="session")
def shared_dicom() -> Path:
    """The shared corpus of real DICOM files, found beside the repository."""
    if not (SHARED_DICOM / "manifest.tsv").is_file():
        pytest.skip(f"shared DICOM corpus not found beside the repository ({SHARED_DICOM.name})")
    return SHARED_DICOM


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", storage={"min_free_bytes": 0})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated index database: SQLite in WAL mode, or a throwaway PostgreSQL."""
    from lienthong.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database()
    upgrade(url)
    yield url


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[object]:
    from tests.support.postgres import PostgresCluster

    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
