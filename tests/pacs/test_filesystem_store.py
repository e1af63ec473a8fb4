"""The instance store's durability step, in both of its modes (storage.sync)."""

from __future__ import annotations

import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from pacs.errors import StorageUnavailable
from pacs.storage.filesystem import FilesystemStore

Usage = namedtuple("Usage", "total used free")  # as shutil.disk_usage answers


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


def test_below_the_low_water_mark_nothing_is_written(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp", min_free_bytes=free + 2**30)
    with pytest.raises(StorageUnavailable, match="low-water mark"):
        store.put([b"x" * 1000])
    assert not any(p.is_file() for p in store.objects_dir.rglob("*"))
    assert not any(store.tmp_dir.iterdir())


def test_free_space_is_read_again_before_half_the_headroom_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reading is kept for a while, but never for more than half the headroom it showed."""
    mb = 1024 * 1024
    readings: list[int] = []
    free = [10 * mb]

    def disk_usage(path: object) -> Usage:
        readings.append(free[0])
        return Usage(100 * mb, 100 * mb - free[0], free[0])

    monkeypatch.setattr("pacs.storage.filesystem.shutil.disk_usage", disk_usage)
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp", min_free_bytes=4 * mb)
    for _ in range(3):  # headroom 5 MB after the first: 2.5 MB may go without a new reading
        store.put([b"x" * mb])
    assert len(readings) == 1
    free[0] = 4 * mb + mb // 2  # meanwhile another writer filled the volume
    with pytest.raises(StorageUnavailable, match="low-water mark"):
        store.put([b"x" * mb])
    assert len(readings) == 2


def test_a_new_low_water_mark_applies_to_the_next_write(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp")
    store.put([b"x" * 1000])  # a reading of the free space is now kept for a while
    store.min_free_bytes = shutil.disk_usage(tmp_path).free + 2**30
    with pytest.raises(StorageUnavailable, match="low-water mark"):
        store.put([b"x" * 1000])


def test_write_all_survives_partial_writes() -> None:
    """A pipe holding 4 KiB takes a writev of 300 KB in many partial writes: every byte must
    arrive once and in order (a file write is usually whole, but need not be)."""
    import fcntl
    import threading

    from pacs.storage.filesystem import _write_all

    chunks = [b"\x00" * 128 + b"DICM", b"", bytes(range(256)) * 37, b"x" * 300_001]
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    received = bytearray()

    def drain() -> None:
        while data := os.read(read_fd, 1000):
            received.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        _write_all(write_fd, chunks)
    finally:
        os.close(write_fd)
        reader.join(10)
        os.close(read_fd)
    assert bytes(received) == b"".join(chunks)
