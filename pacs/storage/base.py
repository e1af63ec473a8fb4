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
    def put(self, chunks: list[bytes]) -> StoredRef:
        """Write the concatenated chunks durably (fsync'd, renamed into place) under a new key.

        Raises StorageUnavailable when the volume is full, below its low-water mark or not
        writable; nothing is left behind in that case.
        """
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
