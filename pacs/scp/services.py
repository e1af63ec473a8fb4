"""The Query/Retrieve, worklist, MPPS and storage commitment handlers bound to the SCP.

``DicomServer.start`` adds this list to its own; each entry is (event, handler, [arguments]).
"""

from __future__ import annotations

from typing import Any

from pynetdicom import evt

from pacs.archive import Archive
from pacs.scp import find, retrieve


def service_handlers(archive: Archive) -> list[tuple[Any, ...]]:
    return [
        (evt.EVT_SOP_EXTENDED, find.handle_sop_extended),
        (evt.EVT_C_FIND, find.handle_find, [archive]),
        (evt.EVT_C_GET, retrieve.handle_get, [archive]),
        (evt.EVT_C_MOVE, retrieve.handle_move, [archive]),
    ]
