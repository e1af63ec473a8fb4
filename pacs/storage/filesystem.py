"""Local-folder instance store.

Layout: ``objects/ab/cd/<32 hex>`` where the name is a random key we generate; no value from a
dataset or a request ever reaches a path. A write goes to ``tmp/`` (O_EXCL), is fsync'd, renamed
into place with ``os.replace`` and the directory entry fsync'd, so a file that exists under
``objects/`` is complete. Temporary files left by a crash are swept at start.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lienthong.durable import fsync_dir, fsync_file, sync_filesystem
from pacs.errors import StorageUnavailable
from pacs.storage.base import StoredRef

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[0-9a-f]{32}$")
_SPACE_READ_EVERY = 1.0  # seconds
_OUT_OF_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def new_key() -> str:
    return secrets.token_hex(16)


class FilesystemStore:
    """InstanceStore on a local (or shared, POSIX) folder."""

    def __init__(self, objects_dir: Path, tmp_dir: Path, min_free_bytes: int = 0,
                 *, sync_filesystem: bool = False) -> None:
        self.objects_dir = objects_dir
        self.tmp_dir = tmp_dir
        self.sync_filesystem = sync_filesystem
        # Bytes that may still be written before the free space is read again: statvfs per
        # instance showed up in the ingest profile (it waits on a busy file system).
        self._space_lock = threading.Lock()
        self._space_budget = 0
        self._space_read_at = 0.0
        self.min_free_bytes = min_free_bytes
        objects_dir.mkdir(parents=True, exist_ok=True)
        tmp_dir.mkdir(parents=True, exist_ok=True)

    @property
    def min_free_bytes(self) -> int:
        return self._min_free_bytes

    @min_free_bytes.setter
    def min_free_bytes(self, value: int) -> None:
        self._min_free_bytes = value
        self._forget_free_space()  # the budget was computed against the old mark

    def path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.objects_dir / key[:2] / key[2:4] / key

    def _check_free_space(self, needed: int) -> None:
        """Refuse a write that would take the volume below ``min_free_bytes``.

        The free space is read at most once a second while the writes since the last reading
        stay within half of the headroom it showed, so that even two processes writing at once
        cannot pass the low-water mark between two readings.
        """
        now = time.monotonic()
        with self._space_lock:
            if needed <= self._space_budget and now - self._space_read_at < _SPACE_READ_EVERY:
                self._space_budget -= needed
                return
        try:
            usage = shutil.disk_usage(self.objects_dir)
        except OSError as exc:
            raise StorageUnavailable(f"storage folder unreadable: {exc.strerror}") from exc
        headroom = usage.free - needed - self.min_free_bytes
        with self._space_lock:
            self._space_budget = max(headroom // 2, 0)
            self._space_read_at = now
        if headroom < 0:
            raise StorageUnavailable(
                f"storage has {usage.free} bytes free, below the low-water mark "
                f"{self.min_free_bytes} + {needed} needed"
            )

    def _forget_free_space(self) -> None:
        with self._space_lock:
            self._space_budget = 0

    def put(self, chunks: list[bytes], *, durable: bool = True) -> StoredRef:
        """Write a new file. With durable=False the caller must call sync() on the key before
        relying on it (group commit: one journal flush covers many files)."""
        size = sum(len(c) for c in chunks)
        self._check_free_space(size)
        key = new_key()
        final = self.path(key)
        tmp = self.tmp_dir / f"{key}.part"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                _write_all(fd, chunks)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            parent = final.parent
            if not parent.is_dir():
                parent.mkdir(parents=True, exist_ok=True)
                if durable:
                    fsync_dir(parent.parent)
                    fsync_dir(parent.parent.parent)
            os.replace(tmp, final)
            if durable:
                fsync_dir(parent)
        except OSError as exc:
            # On a read-only volume even this unlink fails (EROFS): the original error is the
            # one to report; a temporary file that could not be removed is swept at start.
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            self._forget_free_space()  # read it again before the next write
            if exc.errno in _OUT_OF_SPACE:
                raise StorageUnavailable(f"cannot write instance file: {exc.strerror}") from exc
            raise
        return StoredRef(key, size)

    def sync(self, keys: list[str]) -> None:
        """Make files written with durable=False durable: their data, then their directory
        entries (the fan-out folders included, which may be new). Raises StorageUnavailable.

        With ``sync_filesystem`` one syncfs of the storage file system does it for the batch
        (lienthong.durable); otherwise each file and folder is fsynced."""
        if not keys:
            return
        try:
            if self.sync_filesystem:
                for key in keys:
                    os.stat(self.path(key))  # each must exist; the one flush covers them all
                sync_filesystem(self.objects_dir)
                return
            folders: set[Path] = set()
            for key in keys:
                path = self.path(key)
                fsync_file(path)
                folders.update((path.parent, path.parent.parent))
            folders.add(self.objects_dir)
            for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
                fsync_dir(folder)
        except OSError as exc:
            raise StorageUnavailable(f"cannot make instance files durable: {exc.strerror}") from exc

    def flush(self) -> None:
        """Flush the storage volume: every dirty file on it, the index database too when it
        lives there (the group committer relies on that, see pacs.index.committer)."""
        try:
            sync_filesystem(self.objects_dir)
        except OSError as exc:
            raise StorageUnavailable(f"cannot flush the storage volume: {exc.strerror}") from exc

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys_older_than(self, timestamp: float) -> Iterator[str]:
        for first in sorted(os.scandir(self.objects_dir), key=lambda e: e.name):
            if not first.is_dir():
                continue
            for second in os.scandir(first.path):
                if not second.is_dir():
                    continue
                for entry in os.scandir(second.path):
                    if _KEY.match(entry.name) and entry.stat().st_mtime < timestamp:
                        yield entry.name

    def sweep_temporary(self) -> int:
        count = 0
        for entry in os.scandir(self.tmp_dir):
            if entry.is_file() and entry.name.endswith(".part"):
                os.unlink(entry.path)
                count += 1
        if count:
            log.warning("swept %d temporary files left by an interrupted write", count)
        return count


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write every chunk, in one writev call when the kernel takes it all (the usual case)."""
    views = [memoryview(c) for c in chunks if c]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
