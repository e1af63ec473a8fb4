"""The audit rows of the DICOM query and retrieve services (PS3.15 A.5: query, begin
transferring). One row per C-FIND, C-MOVE and C-GET request, committed before any match or
instance leaves; if it cannot be written the request fails (fail closed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pynetdicom.events import Event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lienthong import audit
from pacs.errors import PacsError

log = logging.getLogger(__name__)


class AuditUnavailable(PacsError):
    """The audit trail could not be written, so the request is refused."""

    dimse_status = 0xA700
    http_status = 503


class DicomAudit:
    """Writes audit rows for DIMSE requests in their own committed transactions."""

    def __init__(self, writer_sessions: sessionmaker[Session]) -> None:
        # On SQLite the chain head must be locked at BEGIN (see lienthong.audit), so these
        # sessions come from lienthong.db.relaxed_writer_engine (which also lets the commit skip the
        # disk wait: the row is committed before any match or instance leaves).
        self._sessions = writer_sessions

    def record(
        self,
        event: Event,
        action: str,
        outcome: audit.Outcome,
        filters: Mapping[str, str] | None = None,
        detail: str = "",
    ) -> None:
        """Raises AuditUnavailable when the row cannot be committed."""
        filters = filters or {}
        requestor = event.assoc.requestor
        try:
            audit.record_committed(
                self._sessions,
                actor=requestor.ae_title.strip(),
                actor_kind="dicom_ae",
                role=None,
                action=action,
                outcome=outcome,
                address=str(requestor.address),
                study_instance_uid=_single(filters.get("StudyInstanceUID")),
                patient_id=_single(filters.get("PatientID")),
                detail=detail[:500],
            )
        except SQLAlchemyError as exc:
            log.error("audit row for %s could not be written: %s", action, exc)
            raise AuditUnavailable("audit trail unavailable") from exc


def _single(value: str | None) -> str | None:
    # A list or wildcard is not one study or patient: the detail column keeps the request.
    if not value or "\\" in value or "*" in value or "?" in value:
        return None
    return value[:64]
