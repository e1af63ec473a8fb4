"""C-FIND SCP: Patient Root and Study Root Query/Retrieve (PS3.4 C.4.1), and the dispatch to
the Modality Worklist (PS3.4 K) by the presentation context's SOP class.

Each response carries exactly the requested keys, plus the unique keys of the level and the
levels above, in UTF-8 when a value needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import cast

from pydicom.dataset import Dataset
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from lienthong import audit
from lienthong.settings import Settings
from pacs.archive import Archive
from pacs.errors import PacsError
from pacs.index.query import InformationModel, check_level, find, response_keys
from pacs.scp.audit import AuditUnavailable, DicomAudit
from pacs.scp.identifiers import (
    Element,
    ResponseKeys,
    decode_identifier,
    filters_from,
    query_level,
    response,
    response_keys_of,
)
from pacs.scp.pending import CANCELLED, PENDING, PENDING_UNSUPPORTED_KEYS, answer
from pacs.scp.status import FindResult, failure, log_failure

log = logging.getLogger(__name__)


FIND_MODELS = {
    str(PatientRootQueryRetrieveInformationModelFind): InformationModel.PATIENT_ROOT,
    str(StudyRootQueryRetrieveInformationModelFind): InformationModel.STUDY_ROOT,
}

# SOP Class Extended Negotiation for C-FIND (PS3.4 C.5.1.1.1), by byte position.
RELATIONAL, COMBINED_DATETIME, FUZZY_NAMES = 0, 1, 2


def negotiated(event: Event, sop_class: str) -> tuple[bool, bool, bool]:
    """(relational, combined date-time, fuzzy names) asked for by the requestor for the class."""
    requestor = event.assoc.requestor
    extended = {str(k): v for k, v in requestor.sop_class_extended.items()}
    info = extended.get(sop_class) or b""
    flags = [len(info) > i and info[i] == 1 for i in (RELATIONAL, COMBINED_DATETIME, FUZZY_NAMES)]
    return flags[0], flags[1], flags[2]


def handle_sop_extended(event: Event) -> dict[str, bytes]:
    """EVT_SOP_EXTENDED: accept relational, combined date-time and fuzzy name matching."""
    accepted: dict[str, bytes] = {}
    app_info: dict[str, bytes] = getattr(event, "app_info", None) or {}
    for uid, info in app_info.items():
        if str(uid) in FIND_MODELS:
            # Timezone adjustment and enhanced multi-frame conversion are not offered.
            accepted[str(uid)] = bytes(b if i < 3 else 0 for i, b in enumerate(info[:3]))
    return accepted


def handle_find(event: Event, archive: Archive, auditor: DicomAudit) -> Iterator[FindResult]:
    """C-FIND (PS3.4 C.4.1.1.4).

    Yields 0xFF00 / 0xFF01 Pending with each match, then 0x0000; 0xFE00 when the requester
    cancels; 0xA700 more matches than ``query.max_results``; 0xA900 malformed identifier,
    unsupported level or missing unique key; 0xC001 index unavailable; 0xC000 unexpected error.
    """
    sop_class = str(event.context.abstract_syntax)
    if sop_class == str(ModalityWorklistInformationFind):
        from pacs.scp.worklist import handle_worklist_find

        yield from handle_worklist_find(event, archive, auditor)
        return
    calling = event.assoc.requestor.ae_title.strip()
    if event.is_cancelled:
        yield CANCELLED, None
        return
    filters: dict[str, str] = {}
    try:
        matches, requested, level, charset, filters = _run_query(event, archive, sop_class)
        auditor.record(event, f"C-FIND {level}", audit.Outcome.SUCCESS, filters,
                       detail=f"{len(matches)} match(es); keys: {' '.join(sorted(filters))}")
    except PacsError as exc:
        log_failure("C-FIND", calling, exc)
        _record_failure(auditor, event, "C-FIND", filters, exc)
        yield failure(exc.dimse_status, exc.reason), None
        return
    except Exception:
        log.exception("C-FIND from %s failed unexpectedly", calling)
        yield failure(0xC000, "unexpected error"), None
        return
    log.info("C-FIND %s from %s: %d match(es)", level, calling, len(matches))
    yield from answer(event, _pending(matches, requested, str(level), charset))


def _pending(
    matches: list[dict[str, object]], requested: ResponseKeys, level: str, charset: object
) -> Iterator[tuple[int, list[Element]]]:
    for match in matches:
        elements, missing = response(requested, match, level=level, request_charset=charset)
        yield (PENDING_UNSUPPORTED_KEYS if missing else PENDING), elements


def _run_query(
    event: Event, archive: Archive, sop_class: str
) -> tuple[list[dict[str, object]], ResponseKeys, str, object, dict[str, str]]:
    model = FIND_MODELS[sop_class]
    identifier = decode_identifier(cast(Dataset, event.identifier))
    level = check_level(model, query_level(identifier))
    filters, _sequences = filters_from(identifier)
    relational, combined, fuzzy = negotiated(event, sop_class)
    settings: Settings = archive.settings
    with archive.sessions() as session:
        found = find(
            session,
            level,
            filters,
            model=model,
            fuzzy=fuzzy or settings.query.fuzzy_person_names,
            relational=relational,
            combined_datetime=combined,
            max_results=settings.query.max_results,
        )
    keep = {*filters, *response_keys(model, level)}
    matches: list[dict[str, object]] = [
        {k: v for k, v in m.items() if k in keep} for m in found
    ]
    extra = _extra_values(identifier, archive)
    for m in matches:
        m.update(extra)
    requested = response_keys_of(identifier)
    return matches, requested, str(level), identifier.get("SpecificCharacterSet"), filters


def _record_failure(
    auditor: DicomAudit, event: Event, action: str, filters: dict[str, str], exc: PacsError
) -> None:
    if isinstance(exc, AuditUnavailable):
        return
    try:
        auditor.record(event, action, audit.Outcome.FAILURE, filters, detail=exc.reason)
    except AuditUnavailable:
        pass  # the request fails anyway; the failure to audit is logged by the auditor


def _extra_values(identifier: Dataset, archive: Archive) -> dict[str, object]:
    """Keys answered from configuration rather than the index (PS3.4 C.4.1.1.3.2)."""
    extra: dict[str, object] = {}
    if "RetrieveAETitle" in identifier:
        extra["RetrieveAETitle"] = archive.settings.dicom.ae_title
    if "InstanceAvailability" in identifier:
        extra["InstanceAvailability"] = "ONLINE"
    return extra
