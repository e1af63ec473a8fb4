"""The instance store's durability step, in both of its modes (storage.sync)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pacs.errors import StorageUnavailable
from pacs.storage.filesystem import FilesystemStore


@pytest.fixture(params=[True, False], ids=["syncfs", "fsync-each"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "objects", tmp_path / "tmp",
                           sync_filesystem=bool(request.param))


def test_batch_written_without_sync_is_complete_after_sync(store: FilesystemStore) -> None:
    refs = [store.put([b"DICM", bytes([n]) * 1000], durable=False) for n in range(5)]
    store.sync([ref.key for ref in refs])
    for n, ref in enumerate(refs):
        with store.open(ref.key) as f:
            assert f.read() == b"DICM" + bytes([n]) * 1000
    assert not any(store.tmp_dir.iterdir())  # nothing left behind in tmp/


def test_sync_of_a_missing_file_is_a_storage_failure(store: FilesystemStore) -> None:
    ref = store.put([b"x" * 10], durable=False)
    store.delete(ref.key)
    with pytest.raises(StorageUnavailable):
        store.sync([ref.key])


def test_sync_when_the_volume_is_gone_is_a_storage_failure(store: FilesystemStore) -> None:
    ref = store.put([b"x" * 10], durable=False)
    shutil.rmtree(store.objects_dir)
    with pytest.raises(StorageUnavailable):
        store.sync([ref.key])


def test_sync_refuses_a_name_that_is_not_a_key(store: FilesystemStore) -> None:
    with pytest.raises(ValueError, match="not a storage key"):
        store.sync(["../../etc/passwd"])
