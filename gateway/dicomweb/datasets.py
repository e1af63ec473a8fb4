"""Recently read instances, kept parsed: the files that frame and rendered requests decode.

A viewer asks for the same image again and again: another window, another viewport, the
next frame of a multi-frame instance. Reading and parsing the file is a good part of such a
request, so the last few parsed datasets are kept, up to a byte budget
(``dicomweb.dataset_cache_bytes``; 0 turns this off).

Why caching by storage key is safe: a key names one file that is written once and never
changed (``pacs.storage``), so a cached dataset cannot go stale; and a request only gets a key
from the index, after the access check and the audit row, so nothing here bypasses them.

Cached datasets are shared between request threads: every element is converted from its raw
form before the dataset is cached, and callers only read them.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import BinaryIO

from pydicom.dataset import Dataset

from gateway.dicomweb.frames import read_instance
from pacs.storage.base import InstanceStore

# A file above this share of the budget is read for its request but not kept: one large
# multi-frame instance must not push out every other image.
_LARGEST_SHARE = 8


class DatasetCache:
    """Parsed instances by storage key, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[Dataset, int]] = OrderedDict()
        self._size = 0

    def read(self, store: InstanceStore, key: str) -> Dataset:
        """The parsed instance stored under ``key`` (from the cache, else from the store)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry[0]
        if self.max_bytes <= 0:
            return read_instance(store.open(key))
        data = _read_all(store.open(key))
        ds = read_instance(io.BytesIO(data))
        if len(data) * _LARGEST_SHARE > self.max_bytes:
            return ds
        try:
            for _element in ds.iterall():  # converts every raw element now, under no lock
                pass
        except Exception:  # pydicom's value converters raise many types on malformed values
            return ds  # served as read, lazily, as without the cache; just not shared
        self._keep(key, ds, len(data))
        return ds

    def _keep(self, key: str, ds: Dataset, size: int) -> None:
        with self._lock:
            if key in self._entries:  # another request read it meanwhile
                return
            self._entries[key] = (ds, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= dropped


def _read_all(fileobj: BinaryIO) -> bytes:
    try:
        return fileobj.read()
    finally:
        fileobj.close()
