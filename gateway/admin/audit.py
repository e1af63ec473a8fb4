"""``/api/admin/audit``: search the audit trail (JSON) and export it (CSV, DICOM audit XML).

Admin role only (policy). Reading the trail is itself audited (DCM 110101 "Audit Log Used").
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from gateway.admin.audit_export import audit_messages, to_csv
from gateway.deps import SessionDep, SettingsDep
from lienthong.audit import AuditEvent, AuditFilter, clean_text, search_events

router = APIRouter(prefix="/api/admin", tags=["admin"])

MAX_LIMIT = 1000
EXPORT_LIMIT = 100_000


class AuditEventOut(BaseModel):
    seq: int
    occurred_at: str
    actor: str
    actor_kind: str
    role: str
    action: str
    outcome: str
    address: str
    study_instance_uid: str | None
    patient_id: str | None
    detail: str
    row_hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    limit: int
    offset: int


def audit_filter(
    actor: Annotated[str | None, Query(max_length=128)] = None,
    actor_kind: Literal["user", "api_key", "dicom_ae", "anonymous"] | None = None,
    action: Annotated[str | None, Query(max_length=200, description="prefix")] = None,
    outcome: Literal["success", "denied", "failure"] | None = None,
    study_instance_uid: Annotated[str | None, Query(max_length=64)] = None,
    patient_id: Annotated[str | None, Query(max_length=64)] = None,
    address: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> AuditFilter:
    def clean(value: str | None) -> str | None:
        return None if value is None else clean_text(value)

    return AuditFilter(clean(actor), actor_kind, clean(action), outcome,
                       clean(study_instance_uid), clean(patient_id), clean(address),
                       _aware(since), _aware(until))


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


Criteria = Annotated[AuditFilter, Depends(audit_filter)]


def _out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut.model_validate(event, from_attributes=True)


@router.get("/audit", response_model=AuditPage)
def search_audit(
    criteria: Criteria, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AuditPage:
    """Events matching every given filter, newest first (at most 1,000 per page)."""
    with session.begin():
        events = search_events(session, criteria, limit=limit, offset=offset)
        return AuditPage(items=[_out(e) for e in events], limit=limit, offset=offset)


@router.get("/audit.csv", response_class=Response)
def export_audit_csv(criteria: Criteria, session: SessionDep) -> Response:
    """The matching events (oldest first, up to 100,000) as CSV."""
    with session.begin():
        body = to_csv(search_events(session, criteria, limit=EXPORT_LIMIT, newest_first=False))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})


@router.get("/audit.xml", response_class=Response)
def export_audit_xml(
    request: Request, criteria: Criteria, session: SessionDep, settings: SettingsDep
) -> Response:
    """The matching events (oldest first, up to 100,000) as DICOM audit messages (PS3.15 A.5)."""
    with session.begin():
        events = search_events(session, criteria, limit=EXPORT_LIMIT, newest_first=False)
        body = audit_messages(events, source_id=settings.dicom.ae_title)
    return Response(body, media_type="application/xml",
                    headers={"Content-Disposition": 'attachment; filename="audit.xml"'})
