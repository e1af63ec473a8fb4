"""Modality Worklist C-FIND (PS3.4 K): answered from open imaging orders."""

from __future__ import annotations

from collections.abc import Iterator

from pynetdicom.events import Event

from pacs.archive import Archive
from pacs.scp.status import FindResult, failure


def handle_worklist_find(event: Event, archive: Archive) -> Iterator[FindResult]:
    yield failure(0xC000, "worklist not available"), None
