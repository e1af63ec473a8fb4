"""C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3): send stored instances, transcoding when needed.

pynetdicom runs the C-STORE sub-operations and counts them (remaining, completed, failed,
warning); these handlers resolve the instances (``pacs.index.retrieve``), pick for each one a
transfer syntax the receiver accepted (``pacs.transcode``) and yield it. An instance that no
accepted syntax can carry is yielded as a bare reference so that its sub-operation fails and its
UID lands in the Failed SOP Instance UID List.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterator
from typing import Any, cast

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.dimse_primitives import C_MOVE
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
)

from lienthong import audit
from pacs.archive import Archive
from pacs.errors import PacsError
from pacs.index.query import InformationModel
from pacs.index.retrieve import StoredInstance, resolve
from pacs.peers import find_peer
from pacs.scp.audit import AuditUnavailable, DicomAudit
from pacs.scp.identifiers import decode_identifier, filters_from, query_level
from pacs.scp.status import failure, log_failure
from pacs.transcode import TranscodeFailed, load_for_peer

log = logging.getLogger(__name__)

PENDING = 0xFF00
CANCELLED = 0xFE00
MAX_CONTEXTS = 128  # presentation contexts in one association (PS3.8 9.3.2.2: odd IDs 1-255)
_PATIENT_ROOT = {
    str(PatientRootQueryRetrieveInformationModelMove),
    str(PatientRootQueryRetrieveInformationModelGet),
}


def _model(event: Event) -> InformationModel:
    if str(event.context.abstract_syntax) in _PATIENT_ROOT:
        return InformationModel.PATIENT_ROOT
    return InformationModel.STUDY_ROOT


def _instances(
    event: Event, archive: Archive, auditor: DicomAudit, action: str
) -> list[StoredInstance]:
    """Resolve the identifier and write the audit row (success or failure) before sending."""
    filters: dict[str, str] = {}
    try:
        identifier = decode_identifier(cast(Dataset, event.identifier))
        filters, _ = filters_from(identifier)
        with archive.sessions() as session:
            items = resolve(session, query_level(identifier), filters, model=_model(event))
    except PacsError as exc:
        if not isinstance(exc, AuditUnavailable):
            auditor.record(event, action, audit.Outcome.FAILURE, filters, detail=exc.reason)
        raise
    studies = sorted({*filters.get("StudyInstanceUID", "").split("\\")} - {""})
    auditor.record(event, action, audit.Outcome.SUCCESS, filters,
                   detail=f"{len(items)} instance(s); studies: {' '.join(studies)[:400]}")
    return items


def _unsendable(item: StoredInstance) -> Dataset:
    """A reference pynetdicom cannot send: its sub-operation fails and its UID is listed."""
    ds = Dataset()
    ds.SOPClassUID = item.sop_class_uid
    ds.SOPInstanceUID = item.sop_instance_uid
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(item.transfer_syntax_uid)
    return ds


def _send_each(
    event: Event,
    archive: Archive,
    items: list[StoredInstance],
    accepted_for: Callable[[str], Collection[str]],
) -> Iterator[tuple[int, Dataset | None]]:
    for item in items:
        if event.is_cancelled:
            yield CANCELLED, None
            return
        try:
            ds = load_for_peer(
                archive.store.path(item.file_key),
                item.transfer_syntax_uid,
                accepted_for(item.sop_class_uid),
            )
        except (TranscodeFailed, OSError) as exc:
            log.warning("instance %s cannot be sent: %s", item.sop_instance_uid, exc)
            ds = _unsendable(item)
        yield PENDING, ds


def _refused(status: int, comment: str) -> Iterator[Any]:
    # pynetdicom takes the sub-operation count first; a failure status then ends the
    # retrieve with that status before anything is sent.
    yield 1
    yield failure(status, comment), None


def handle_get(event: Event, archive: Archive, auditor: DicomAudit) -> Iterator[Any]:
    """C-GET (PS3.4 C.4.3.1.3): C-STORE sub-operations on the requester's association.

    Yields the number of sub-operations, then each instance; pynetdicom answers 0x0000,
    0xB000 (some failed) or 0xA702 (all failed) with the counts. Failures before any
    sub-operation: 0xA900 bad identifier or level, 0xA700 too many instances, 0xC000
    unexpected error; 0xFE00 when cancelled.
    """
    calling = event.assoc.requestor.ae_title.strip()
    try:
        items = _instances(event, archive, auditor, "C-GET")
    except PacsError as exc:
        log_failure("C-GET", calling, exc)
        yield from _refused(exc.dimse_status, exc.reason)
        return
    except Exception:
        log.exception("C-GET from %s failed unexpectedly", calling)
        yield from _refused(0xC000, "unexpected error")
        return
    log.info("C-GET from %s: %d instance(s)", calling, len(items))
    yield len(items)

    def accepted_for(sop_class: str) -> set[str]:
        return {
            str(cx.transfer_syntax[0])
            for cx in event.assoc.accepted_contexts
            if cx.abstract_syntax == sop_class and cx.as_scu
        }

    yield from _send_each(event, archive, items, accepted_for)


def _move_contexts(items: list[StoredInstance]) -> list[PresentationContext]:
    """Per SOP class: the stored syntaxes as they are, and uncompressed as the fallback."""
    wanted: dict[tuple[str, tuple[str, ...]], None] = {}
    for item in items:
        wanted[(item.sop_class_uid, (item.transfer_syntax_uid,))] = None
    for sop_class in {item.sop_class_uid for item in items}:
        wanted[(sop_class, (str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)))] = None
    # Fallbacks first when over the limit, so every class can at least go uncompressed.
    ordered = sorted(wanted, key=lambda k: len(k[1]) == 1)
    return [build_context(sop, list(syntaxes)) for sop, syntaxes in ordered[:MAX_CONTEXTS]]


def handle_move(event: Event, archive: Archive, auditor: DicomAudit) -> Iterator[Any]:
    """C-MOVE (PS3.4 C.4.2.1.3): C-STORE sub-operations on a new association to a known peer.

    Yields the destination, the number of sub-operations, then each instance. Statuses:
    0xA801 unknown (or unreachable) move destination, 0xA900 bad identifier or level (sent
    as Failed before any sub-operation), 0x0000 / 0xB000 / 0xA702 with the counts.
    """
    calling = event.assoc.requestor.ae_title.strip()
    request = cast(C_MOVE, event.request)
    destination = str(request.MoveDestination or "").strip()
    with archive.sessions() as session:
        peer = find_peer(session, destination) if destination else None
    if peer is None:
        log.warning("C-MOVE from %s: unknown destination %r", calling, destination)
        with contextlib.suppress(AuditUnavailable):  # refused either way
            auditor.record(event, "C-MOVE", audit.Outcome.FAILURE,
                           detail=f"unknown move destination {destination[:16]!r}")
        yield None, None
        return
    refusal: tuple[int, str] | None = None
    items: list[StoredInstance] = []
    try:
        items = _instances(event, archive, auditor, f"C-MOVE to {peer.ae_title}")
    except PacsError as exc:
        log_failure("C-MOVE", calling, exc)
        refusal = exc.dimse_status, exc.reason
    except Exception:
        log.exception("C-MOVE from %s failed unexpectedly", calling)
        refusal = 0xC000, "unexpected error"
    accepted: list[PresentationContext] = []

    def on_accepted(accept_event: Event) -> None:
        accepted.extend(accept_event.assoc.accepted_contexts)

    kwargs = {
        "contexts": _move_contexts(items) or [build_context("1.2.840.10008.1.1")],
        "evt_handlers": [(evt.EVT_ACCEPTED, on_accepted)],
        "ae_title": peer.ae_title,
    }
    yield peer.host, peer.port, kwargs
    if refusal is not None:
        yield from _refused(*refusal)
        return
    log.info("C-MOVE from %s to %s: %d instance(s)", calling, peer.ae_title, len(items))
    yield len(items)

    def accepted_for(sop_class: str) -> set[str]:
        return {
            str(cx.transfer_syntax[0]) for cx in accepted if cx.abstract_syntax == sop_class
        }

    yield from _send_each(event, archive, items, accepted_for)
