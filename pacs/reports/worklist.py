"""The reading worklist: studies with their report status, filtered and sorted.

A data function over the index and the report table (no HTTP). Patient matching ignores case
and Vietnamese diacritics on both sides (``fold_name``), as QIDO-RS ``fuzzymatching=true``
does; every word typed must occur in the name, or the text must start the Patient ID.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from lienthong.clock import HOSPITAL_TZ
from pacs.index.attributes import fold_name
from pacs.index.models import Series, Study
from pacs.orders.models import ImagingOrder
from pacs.reports.models import Report

MAX_ROWS = 500


class WorklistStatus(enum.StrEnum):
    UNREAD = "unread"
    """No report has been started."""
    DRAFT = "draft"
    SIGNED = "signed"


SORT_COLUMNS = {
    "patient_name": Study.patient_name,
    "patient_id": Study.patient_id,
    "study_date": Study.study_date,
    "modalities": Study.modalities_in_study,
    "study_description": Study.study_description,
    "number_of_instances": Study.number_of_instances,
    "accession_number": Study.accession_number,
    "received": Study.created_at,
}


@dataclass(frozen=True)
class WorklistFilter:
    date_from: str = ""  # YYYYMMDD, inclusive
    date_to: str = ""
    modality: str = ""
    status: WorklistStatus | None = None
    patient: str = ""
    accession: str = ""
    sort: str = "study_date"
    descending: bool = True
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class WorklistRow:
    study_instance_uid: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    study_date: str
    study_time: str
    accession_number: str
    study_description: str
    modalities: str
    number_of_series: int
    number_of_instances: int
    report_status: str
    order_status: str
    """Status of the imaging order the study is linked to ('' without one)."""
    order_procedure: str
    """The order's requested procedure description."""
    claim_link: str
    """The order's QĐ 130 episode code (MA_LK), which ties the study to its insurance claim."""


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _patient(text: str) -> ColumnElement[bool]:
    words = [w for w in fold_name(text).replace("^", " ").split() if w]
    name = and_(
        *[Study.patient_name_folded.like(f"%{_like_escape(w)}%", escape="\\") for w in words]
    )
    return or_(name, Study.patient_id.like(f"{_like_escape(text.strip())}%", escape="\\"))


def _local_midnight(day: str) -> dt.datetime:
    local = dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=HOSPITAL_TZ)
    return local.astimezone(dt.UTC)


def _dates(date_from: str, date_to: str) -> ColumnElement[bool]:
    """Study Date in the range; a study sent without a Study Date counts on the (local) day it
    was received, so that it still shows in today's worklist."""
    dated = [Study.study_date != ""]
    received = [Study.study_date == ""]
    if date_from:
        dated.append(Study.study_date >= date_from)
        received.append(Study.created_at >= _local_midnight(date_from))
    if date_to:
        dated.append(Study.study_date <= date_to)
        received.append(Study.created_at < _local_midnight(date_to) + dt.timedelta(days=1))
    return or_(and_(*dated), and_(*received))


def search_worklist(session: Session, f: WorklistFilter) -> tuple[int, list[WorklistRow]]:
    """(total matches, one page of rows). Raises ValueError for an unknown sort key or a date
    that is not YYYYMMDD."""
    if f.sort not in SORT_COLUMNS and f.sort != "report_status":
        raise ValueError(f"cannot sort by {f.sort!r}")
    for day in (f.date_from, f.date_to):
        if day:
            _local_midnight(day)  # ValueError for 20261399
    newest = (
        select(Report.study_instance_uid, func.max(Report.version).label("version"))
        .group_by(Report.study_instance_uid)
        .subquery()
    )
    latest = (
        select(Report.study_instance_uid, Report.status)
        .join(
            newest,
            and_(
                Report.study_instance_uid == newest.c.study_instance_uid,
                Report.version == newest.c.version,
            ),
        )
        .subquery()
    )
    status = func.coalesce(latest.c.status, WorklistStatus.UNREAD.value)
    conditions: list[ColumnElement[bool]] = []
    if f.date_from or f.date_to:
        conditions.append(_dates(f.date_from, f.date_to))
    if f.modality:
        conditions.append(
            exists().where(Series.study_fk == Study.id, Series.modality == f.modality.upper())
        )
    if f.status is not None:
        conditions.append(status == f.status.value)
    if f.patient.strip():
        conditions.append(_patient(f.patient))
    if f.accession.strip():
        conditions.append(
            Study.accession_number.like(f"{_like_escape(f.accession.strip())}%", escape="\\")
        )
    base = (
        select(Study, status.label("report_status"), ImagingOrder.status,
               ImagingOrder.requested_procedure_description, ImagingOrder.ma_lk)
        .outerjoin(latest, latest.c.study_instance_uid == Study.study_instance_uid)
        .outerjoin(ImagingOrder, ImagingOrder.study_fk == Study.id)
        .where(*conditions)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    column = status if f.sort == "report_status" else SORT_COLUMNS[f.sort]
    order = [column.desc() if f.descending else column.asc()]
    if f.sort == "study_date":
        order.append(Study.study_time.desc() if f.descending else Study.study_time.asc())
    order.append(Study.id.desc())
    limit = max(1, min(f.limit, MAX_ROWS))
    rows = session.execute(base.order_by(*order).limit(limit).offset(max(0, f.offset)))
    return total, [
        WorklistRow(
            study_instance_uid=s.study_instance_uid,
            patient_name=s.patient_name,
            patient_id=s.patient_id,
            patient_birth_date=s.patient_birth_date,
            patient_sex=s.patient_sex,
            study_date=s.study_date,
            study_time=s.study_time,
            accession_number=s.accession_number,
            study_description=s.study_description,
            modalities=s.modalities_in_study.replace("\\", "/"),
            number_of_series=s.number_of_series,
            number_of_instances=s.number_of_instances,
            report_status=report_status,
            order_status=order_status or "",
            order_procedure=order_procedure or "",
            claim_link=claim_link or "",
        )
        for s, report_status, order_status, order_procedure, claim_link in rows
    ]
