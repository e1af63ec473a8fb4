"""``/api/reports/{study}``: read, draft, sign, amend, PDF; ``/api/report-templates``.

Who may do what is the access policy's table (radiologists write and sign, referring doctors
read, admins keep the templates). The signed report is stored back into the archive after the
signing transaction commits; if that fails the signature stands, the response says
``archived: false``, and ``lienthong reports archive`` stores it later.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gateway.auth.users import find_user
from gateway.deps import CurrentPrincipal, Principal, SessionDep, SettingsDep, WriteSessionDep
from lienthong.db import utcnow
from pacs.archive import Archive
from pacs.errors import PacsError
from pacs.reports import service
from pacs.reports.archive import archive_signed_report
from pacs.reports.errors import ReportNotFound
from pacs.reports.models import Report, ReportTemplate
from pacs.reports.pdf import printable_report, render_pdf

log = logging.getLogger(__name__)

# A database row id: bounded so that an absurd path value is a 422, not an integer overflow.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter(tags=["reports"])
MAX_TEXT = service.MAX_TEXT


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    status: str
    findings: str
    conclusion: str
    template_id: int | None
    reader_username: str
    reader_name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    signed_at: dt.datetime | None
    amendment_reason: str
    archived: bool = False

    @classmethod
    def of(cls, report: Report) -> ReportOut:
        out = cls.model_validate(report)
        out.created_at = service.as_utc(report.created_at)
        out.updated_at = service.as_utc(report.updated_at)
        out.signed_at = service.as_utc(report.signed_at) if report.signed_at else None
        out.archived = report.archived_sop_instance_uid is not None
        return out


class ReportPage(BaseModel):
    study_instance_uid: str
    current: ReportOut | None
    history: list[ReportOut]


class DraftIn(BaseModel):
    findings: str = Field("", max_length=MAX_TEXT)
    conclusion: str = Field("", max_length=MAX_TEXT)
    template_id: int | None = Field(None, ge=1, le=2**31 - 1)


class AmendIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class TemplateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    modality: str = Field(min_length=1, max_length=16)
    body_part: str = Field("", max_length=16)
    findings: str = Field("", max_length=MAX_TEXT)
    conclusion: str = Field("", max_length=MAX_TEXT)


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    modality: str
    body_part: str
    findings: str
    conclusion: str
    updated_by: str


def _reader(session: Session, principal: Principal) -> service.Reader:
    """The acting radiologist as the report records them: the account's display name (the
    login name when none is set) and practising-certificate code, read at the time of acting."""
    user = find_user(session, principal.name) if principal.kind == "user" else None
    if user is None:
        return service.Reader(principal.name, principal.name)
    return service.Reader(user.username, user.display_name or user.username, user.practice_code)


@router.get("/api/reports/{study_instance_uid}", response_model=ReportPage)
def read_report(study_instance_uid: str, session: SessionDep) -> ReportPage:
    """The newest version and the whole history (newest first). 404 for an unknown study."""
    with session.begin():
        service.get_study(session, study_instance_uid)
        history = service.report_history(session, study_instance_uid)
    return ReportPage(
        study_instance_uid=study_instance_uid,
        current=ReportOut.of(history[0]) if history else None,
        history=[ReportOut.of(r) for r in history],
    )


@router.put("/api/reports/{study_instance_uid}/draft", response_model=ReportOut)
def save_draft(
    study_instance_uid: str, body: DraftIn, session: WriteSessionDep,
    principal: CurrentPrincipal,
) -> ReportOut:
    """Create or update the draft (autosave). 409 if the report is signed."""
    with session.begin():
        report = service.save_draft(
            session, study_instance_uid, findings=body.findings, conclusion=body.conclusion,
            reader=_reader(session, principal), now=utcnow(), template_id=body.template_id,
        )
        return ReportOut.of(report)


@router.post("/api/reports/{study_instance_uid}/sign", response_model=ReportOut)
def sign(
    study_instance_uid: str, request: Request, session: WriteSessionDep,
    principal: CurrentPrincipal, settings: SettingsDep,
) -> ReportOut:
    """Sign the draft as the calling radiologist, then store it in the archive as DICOM."""
    with session.begin():
        report = service.sign_report(
            session, study_instance_uid, reader=_reader(session, principal), now=utcnow()
        )
        report_id = report.id
    archive: Archive | None = getattr(request.app.state, "archive", None)
    if settings.reports.archive_signed and archive is not None:
        try:
            archive_signed_report(archive, report_id)
        except PacsError as exc:
            log.error("signed report %d not archived yet: %s", report_id, exc.reason)
    session.expire_all()  # the archive copy was recorded by another session
    with session.begin():
        return ReportOut.of(service.get_report_version(session, study_instance_uid,
                                                       report.version))


@router.post("/api/reports/{study_instance_uid}/amend", response_model=ReportOut)
def amend(
    study_instance_uid: str, body: AmendIn, session: WriteSessionDep,
    principal: CurrentPrincipal,
) -> ReportOut:
    """Start a new draft version from the signed report; the signed version is kept."""
    with session.begin():
        report = service.amend_report(
            session, study_instance_uid, reader=_reader(session, principal), reason=body.reason,
            now=utcnow(),
        )
        return ReportOut.of(report)


@router.get("/api/reports/{study_instance_uid}/pdf", response_class=Response)
def report_pdf(
    study_instance_uid: str, session: SessionDep, settings: SettingsDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The printable report (A4 PDF with the hospital header); the newest version by default."""
    with session.begin():
        study = service.get_study(session, study_instance_uid)
        if version is None:
            report = service.current_report(session, study_instance_uid)
            if report is None:
                raise ReportNotFound("the study has no report yet")
        else:
            report = service.get_report_version(session, study_instance_uid, version)
        printable = printable_report(report, study)
    pdf = render_pdf(printable, settings.reports)
    return Response(
        pdf, media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="report-v{printable.version}.pdf"',
                 "Cache-Control": "no-store"},
    )


@router.get("/api/report-templates", response_model=list[TemplateOut])
def templates(
    session: SessionDep,
    modality: Annotated[str | None, Query(max_length=16)] = None,
    body_part: Annotated[str | None, Query(max_length=16)] = None,
) -> list[ReportTemplate]:
    """Templates for a modality; those for the body part first, then the generic ones."""
    with session.begin():
        return service.list_templates(session, modality=modality, body_part=body_part)


@router.post("/api/report-templates", response_model=TemplateOut, status_code=201)
def create_template(
    body: TemplateIn, session: WriteSessionDep, principal: CurrentPrincipal
) -> ReportTemplate:
    with session.begin():
        return service.save_template(session, editor=principal.name, now=utcnow(),
                                     **body.model_dump())


@router.put("/api/report-templates/{template_id}", response_model=TemplateOut)
def update_template(
    template_id: RowId, body: TemplateIn, session: WriteSessionDep, principal: CurrentPrincipal
) -> ReportTemplate:
    with session.begin():
        return service.save_template(session, template_id=template_id, editor=principal.name,
                                     now=utcnow(), **body.model_dump())


@router.delete("/api/report-templates/{template_id}", status_code=204)
def delete_template(template_id: RowId, session: WriteSessionDep) -> Response:
    with session.begin():
        service.delete_template(session, template_id)
    return Response(status_code=204)
