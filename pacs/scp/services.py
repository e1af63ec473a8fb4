"""The Query/Retrieve, worklist, MPPS and storage commitment handlers bound to the SCP.

``DicomServer.start`` adds ``service_handlers(archive)`` to its own list (each entry is
(event, handler, [arguments])) and ``DicomServer.stop`` calls ``stop_services(archive)``, which
ends the storage commitment reporter thread started here.
"""

from __future__ import annotations

from typing import Any

from pynetdicom import evt

from lienthong.db import make_sessionmaker, relaxed_writer_engine, writer_engine
from pacs.archive import Archive
from pacs.scp import commitment, find, mpps, retrieve
from pacs.scp.audit import DicomAudit

_REPORTERS: dict[int, commitment.CommitmentReporter] = {}


def service_handlers(archive: Archive) -> list[tuple[Any, ...]]:
    # Writes (audit rows, MPPS, commitment requests) take the SQLite write lock at BEGIN.
    writes = make_sessionmaker(writer_engine(archive.engine))
    auditor = DicomAudit(make_sessionmaker(relaxed_writer_engine(archive.engine)))
    reporter = commitment.CommitmentReporter(archive, writes)
    reporter.start()
    _REPORTERS[id(archive)] = reporter
    return [
        (evt.EVT_SOP_EXTENDED, find.handle_sop_extended),
        (evt.EVT_C_FIND, find.handle_find, [archive, auditor]),
        (evt.EVT_C_GET, retrieve.handle_get, [archive, auditor]),
        (evt.EVT_C_MOVE, retrieve.handle_move, [archive, auditor]),
        (evt.EVT_N_CREATE, mpps.handle_n_create, [writes]),
        (evt.EVT_N_SET, mpps.handle_n_set, [writes]),
        (evt.EVT_N_ACTION, commitment.handle_n_action, [writes, reporter]),
    ]


def stop_services(archive: Archive) -> None:
    reporter = _REPORTERS.pop(id(archive), None)
    if reporter is not None:
        reporter.stop()
