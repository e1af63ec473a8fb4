"""The instance store seam: anything that can durably keep Part 10 files under our own keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredRef:
    """Where a file went: our key (never derived from the dataset) and its size in bytes."""

    key: str
    size: int


class InstanceStore(Protocol):
    def put(self, chunks: list[bytes], *, durable: bool = True) -> StoredRef:
        """Write the concatenated chunks under a new key; complete or absent, never partial.

        durable=True fsyncs before returning; durable=False leaves that to a later sync() of
        the key, so that one flush can cover many files. Raises StorageUnavailable when the
        volume is full, below its low-water mark or not writable; nothing is left behind.
        """
        ...

    def sync(self, keys: list[str]) -> None:
        """Make the files of `keys` durable. Raises StorageUnavailable."""
        ...

    def flush(self) -> None:
        """Flush the whole storage volume (syncfs). Raises StorageUnavailable."""
        ...

    def open(self, key: str) -> BinaryIO: ...

    def path(self, key: str) -> Path: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def keys_older_than(self, timestamp: float) -> Iterator[str]:
        """Keys of files last modified before `timestamp` (used to find crash orphans)."""
        ...

    def sweep_temporary(self) -> int:
        """Remove temporary files left by an earlier crash; return how many."""
        ...
