"""Modality Worklist matching (PS3.4 K.6.1) over open imaging orders, as indexed SQL.

Plain data at the boundary, like ``pacs.index.query``: top-level filters and the filters of the
Scheduled Procedure Step Sequence item are ``{keyword: value}``; each entry is a dict keyed by
keyword, with the step's attributes under ``ScheduledProcedureStepSequence``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pacs.errors import TooManyMatches
from pacs.index.query import Attribute, Kind, condition
from pacs.orders.models import OPEN_STATUSES, ImagingOrder

SPS = "ScheduledProcedureStepSequence"
O = ImagingOrder  # noqa: E741 - short alias keeps the key table readable

# Requested Procedure, Imaging Service Request, Patient (PS3.4 Table K.6-1).
TOP_LEVEL: Mapping[str, Attribute] = {
    a.keyword: a
    for a in (
        Attribute("PatientName", Kind.PERSON_NAME, O.patient_name.expression,
                  O.patient_name_folded.expression),
        Attribute("PatientID", Kind.TEXT, O.patient_id.expression),
        Attribute("PatientBirthDate", Kind.DATE, O.patient_birth_date.expression),
        Attribute("PatientSex", Kind.TEXT, O.patient_sex.expression),
        Attribute("PatientAddress", Kind.TEXT, O.patient_address.expression),
        Attribute("AccessionNumber", Kind.TEXT, O.accession_number.expression),
        Attribute("RequestedProcedureID", Kind.TEXT, O.requested_procedure_id.expression),
        Attribute("RequestedProcedureDescription", Kind.TEXT,
                  O.requested_procedure_description.expression),
        Attribute("StudyInstanceUID", Kind.UID, O.study_instance_uid.expression),
        Attribute("ReferringPhysicianName", Kind.PERSON_NAME,
                  O.referring_physician_name.expression),
    )
}

# Scheduled Procedure Step (PS3.4 Table K.6-1, the sequence item).
STEP: Mapping[str, Attribute] = {
    a.keyword: a
    for a in (
        Attribute("ScheduledStationAETitle", Kind.TEXT,
                  O.scheduled_station_ae_title.expression),
        Attribute("ScheduledProcedureStepStartDate", Kind.DATE, O.scheduled_date.expression),
        Attribute("ScheduledProcedureStepStartTime", Kind.TIME, O.scheduled_time.expression),
        Attribute("Modality", Kind.TEXT, O.modality.expression),
        Attribute("ScheduledProcedureStepID", Kind.TEXT,
                  O.scheduled_procedure_step_id.expression),
        Attribute("ScheduledProcedureStepDescription", Kind.TEXT,
                  O.requested_procedure_description.expression),
    )
}


def find_worklist(
    session: Session,
    filters: Mapping[str, str],
    step_filters: Mapping[str, str],
    *,
    fuzzy: bool = False,
    max_results: int | None = None,
) -> list[dict[str, Any]]:
    """Open orders (scheduled or in progress) matching the keys, by scheduled date and time.

    Raises InvalidIdentifier for a malformed value, TooManyMatches beyond `max_results`.
    """
    dialect = session.get_bind().dialect.name
    columns = [a.column.label(k) for k, a in TOP_LEVEL.items()]
    columns += [a.column.label(k) for k, a in STEP.items()]
    columns.append(O.status.label("_status"))
    stmt = select(*columns).where(O.status.in_([str(s) for s in OPEN_STATUSES]))
    for table, given in ((TOP_LEVEL, filters), (STEP, step_filters)):
        for keyword, value in given.items():
            attr = table.get(keyword)
            where = None if attr is None else condition(attr, value, fuzzy, dialect)
            if where is not None:
                stmt = stmt.where(where)
    stmt = stmt.order_by(O.scheduled_date, O.scheduled_time, O.id)
    if max_results is not None:
        stmt = stmt.limit(max_results + 1)
    entries: list[dict[str, Any]] = []
    for row in session.execute(stmt):
        values: dict[str, Any] = dict(row._mapping)
        status = values.pop("_status")
        step = {k: values.pop(k) for k in STEP}
        step["ScheduledProcedureStepStatus"] = (
            "STARTED" if status == "in_progress" else "SCHEDULED"
        )
        values[SPS] = step
        entries.append(values)
    if max_results is not None and len(entries) > max_results:
        raise TooManyMatches(f"more than {max_results} worklist entries; narrow the query")
    return entries
