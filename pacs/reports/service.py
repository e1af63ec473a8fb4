"""Report data functions: read, save a draft, sign, amend, templates, the claims view.

Every function takes the caller's ``Session`` and never commits; the caller frames the
transaction. Who may call what (radiologists write and sign, admins edit templates) is decided
by the HTTP gateway's access policy, not here; the functions check the report's own rules:
a signed report never changes, only the newest version may be a draft, a signature needs a
conclusion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pacs.index.models import Study
from pacs.reports.errors import (
    ReportImmutable,
    ReportIncomplete,
    ReportNotFound,
    ReportStateConflict,
    StudyNotFound,
    TemplateNotFound,
)
from pacs.reports.models import Report, ReportStatus, ReportTemplate

MAX_TEXT = 20_000  # characters per field: a long CT report is ~3,000


@dataclass(frozen=True)
class Reader:
    """The radiologist acting: login name, the name printed on the report, and the
    practising-certificate code (CCHN) that identifies the reader in insurance claims."""

    username: str
    display_name: str
    practice_code: str = ""


@dataclass(frozen=True)
class SignedReport:
    """What the claims export reads for a study (QĐ 130 XML4: conclusion, reader, time)."""

    study_instance_uid: str
    version: int
    findings: str
    conclusion: str
    reader_username: str
    reader_name: str
    reader_practice_code: str
    signed_at: dt.datetime


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive UTC values)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def get_study(session: Session, study_instance_uid: str) -> Study:
    """The indexed study, or StudyNotFound."""
    study = session.scalars(
        select(Study).where(Study.study_instance_uid == study_instance_uid)
    ).one_or_none()
    if study is None:
        raise StudyNotFound("no such study in the archive")
    return study


def report_history(session: Session, study_instance_uid: str) -> list[Report]:
    """Every version of the study's report, newest first."""
    return list(
        session.scalars(
            select(Report)
            .where(Report.study_instance_uid == study_instance_uid)
            .order_by(Report.version.desc())
        )
    )


def current_report(session: Session, study_instance_uid: str) -> Report | None:
    """The newest version (draft or signed), or None if nobody has written one."""
    return session.scalars(
        select(Report)
        .where(Report.study_instance_uid == study_instance_uid)
        .order_by(Report.version.desc())
        .limit(1)
    ).one_or_none()


def get_report_version(session: Session, study_instance_uid: str, version: int) -> Report:
    report = session.scalars(
        select(Report).where(
            Report.study_instance_uid == study_instance_uid, Report.version == version
        )
    ).one_or_none()
    if report is None:
        raise ReportNotFound(f"the study has no report version {version}")
    return report


def _check_text(name: str, value: str) -> str:
    if len(value) > MAX_TEXT:
        raise ReportIncomplete(f"{name} is longer than {MAX_TEXT} characters")
    return value


def save_draft(
    session: Session,
    study_instance_uid: str,
    *,
    findings: str,
    conclusion: str,
    reader: Reader,
    now: dt.datetime,
    template_id: int | None = None,
) -> Report:
    """Create version 1 or update the current draft. Raises ReportImmutable if it is signed."""
    get_study(session, study_instance_uid)
    if template_id is not None and session.get(ReportTemplate, template_id) is None:
        raise TemplateNotFound("no such report template")
    report = current_report(session, study_instance_uid)
    if report is not None and report.status == ReportStatus.SIGNED:
        raise ReportImmutable("the report is signed; amend it to make a new version")
    if report is None:
        report = Report(
            study_instance_uid=study_instance_uid,
            version=1,
            status=ReportStatus.DRAFT.value,
            created_at=now,
        )
        session.add(report)
    report.findings = _check_text("findings", findings)
    report.conclusion = _check_text("conclusion", conclusion)
    if template_id is not None:
        report.template_id = template_id
    report.reader_username = reader.username
    report.reader_name = reader.display_name
    report.updated_at = now
    session.flush()
    return report


def sign_report(
    session: Session, study_instance_uid: str, *, reader: Reader, now: dt.datetime
) -> Report:
    """Sign the current draft as ``reader`` at ``now``.

    Raises ReportNotFound (nothing written), ReportImmutable (already signed), ReportIncomplete
    (no conclusion).
    """
    report = current_report(session, study_instance_uid)
    if report is None:
        raise ReportNotFound("there is no draft to sign")
    if report.status == ReportStatus.SIGNED:
        raise ReportImmutable("the report is already signed")
    if not report.conclusion.strip():
        raise ReportIncomplete("a report needs a conclusion before it is signed")
    report.status = ReportStatus.SIGNED.value
    report.reader_username = reader.username
    report.reader_name = reader.display_name
    report.reader_practice_code = reader.practice_code
    report.signed_at = now
    report.updated_at = now
    session.flush()
    return report


def amend_report(
    session: Session, study_instance_uid: str, *, reader: Reader, reason: str, now: dt.datetime
) -> Report:
    """Start a new draft version from the signed one; the signed version is kept unchanged.

    Raises ReportNotFound, ReportStateConflict (the current version is still a draft),
    ReportIncomplete (no reason given).
    """
    signed = current_report(session, study_instance_uid)
    if signed is None:
        raise ReportNotFound("there is no report to amend")
    if signed.status != ReportStatus.SIGNED:
        raise ReportStateConflict("the current version is a draft; edit it instead")
    if not reason.strip():
        raise ReportIncomplete("an amendment needs a reason")
    amendment = Report(
        study_instance_uid=study_instance_uid,
        version=signed.version + 1,
        status=ReportStatus.DRAFT.value,
        findings=signed.findings,
        conclusion=signed.conclusion,
        template_id=signed.template_id,
        reader_username=reader.username,
        reader_name=reader.display_name,
        created_at=now,
        updated_at=now,
        supersedes_id=signed.id,
        amendment_reason=_check_text("reason", reason.strip()),
    )
    session.add(amendment)
    session.flush()
    return amendment


def mark_archived(session: Session, report_id: int, sop_instance_uid: str) -> None:
    """Record the archive copy of a signed report (the only change a signed row accepts)."""
    report = session.get(Report, report_id)
    if report is None:
        raise ReportNotFound("no such report")
    report.archived_sop_instance_uid = sop_instance_uid
    session.flush()


def unarchived_signed_reports(session: Session) -> list[Report]:
    """Signed versions whose archive copy has not been stored yet (e.g. storage was full)."""
    return list(
        session.scalars(
            select(Report)
            .where(
                Report.status == ReportStatus.SIGNED.value,
                Report.archived_sop_instance_uid.is_(None),
            )
            .order_by(Report.id)
        )
    )


def latest_signed_report(session: Session, study_instance_uid: str) -> SignedReport | None:
    """The newest signed version of the study's report (an amendment in progress is ignored)."""
    report = session.scalars(
        select(Report)
        .where(
            Report.study_instance_uid == study_instance_uid,
            Report.status == ReportStatus.SIGNED.value,
        )
        .order_by(Report.version.desc())
        .limit(1)
    ).one_or_none()
    if report is None or report.signed_at is None:
        return None
    return SignedReport(
        study_instance_uid=report.study_instance_uid,
        version=report.version,
        findings=report.findings,
        conclusion=report.conclusion,
        reader_username=report.reader_username,
        reader_name=report.reader_name,
        reader_practice_code=report.reader_practice_code,
        signed_at=as_utc(report.signed_at),
    )


def report_statuses(session: Session, study_instance_uids: Iterable[str]) -> dict[str, str]:
    """Status of the newest version per study; studies without a report are absent."""
    uids = list(study_instance_uids)
    if not uids:
        return {}
    newest = (
        select(Report.study_instance_uid, func.max(Report.version).label("version"))
        .where(Report.study_instance_uid.in_(uids))
        .group_by(Report.study_instance_uid)
        .subquery()
    )
    rows = session.execute(
        select(Report.study_instance_uid, Report.status).join(
            newest,
            (Report.study_instance_uid == newest.c.study_instance_uid)
            & (Report.version == newest.c.version),
        )
    )
    return {uid: status for uid, status in rows}


# Templates ---------------------------------------------------------------------------------


def list_templates(
    session: Session, *, modality: str | None = None, body_part: str | None = None
) -> list[ReportTemplate]:
    """Templates for a modality, those for the body part first, then the generic ones."""
    query = select(ReportTemplate)
    if modality:
        query = query.where(ReportTemplate.modality == modality.upper())
    if body_part:
        query = query.where(ReportTemplate.body_part.in_([body_part.upper(), ""]))
    query = query.order_by(
        ReportTemplate.modality, ReportTemplate.body_part.desc(), ReportTemplate.name
    )
    return list(session.scalars(query))


def save_template(
    session: Session,
    *,
    name: str,
    modality: str,
    body_part: str,
    findings: str,
    conclusion: str,
    editor: str,
    now: dt.datetime,
    template_id: int | None = None,
) -> ReportTemplate:
    """Create a template, or replace the one with ``template_id`` (TemplateNotFound)."""
    if template_id is None:
        template = ReportTemplate()
        session.add(template)
    else:
        found = session.get(ReportTemplate, template_id)
        if found is None:
            raise TemplateNotFound("no such report template")
        template = found
    if not name.strip() or not modality.strip():
        raise ReportIncomplete("a template needs a name and a modality")
    template.name = name.strip()[:200]
    template.modality = modality.strip().upper()[:16]
    template.body_part = body_part.strip().upper()[:16]
    template.findings = _check_text("findings", findings)
    template.conclusion = _check_text("conclusion", conclusion)
    template.updated_by = editor
    template.updated_at = now
    session.flush()
    return template


def delete_template(session: Session, template_id: int) -> None:
    template = session.get(ReportTemplate, template_id)
    if template is None:
        raise TemplateNotFound("no such report template")
    # Reports keep their own text and the template's id as a plain number (no foreign key), so
    # deleting a template never touches a signed report.
    session.delete(template)
    session.flush()
