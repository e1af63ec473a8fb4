"""Resolve DICOMweb resource URLs to index rows (study → series → instances), read-only.

Path values are checked to be UIDs before any query; they only ever become SQL parameters and
never reach a file path (files are opened by the storage key of the Instance row).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from pacs.index.models import Instance, Series, Study

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class InvalidUID(ValueError):
    """A path or query value that must be a UID is not one (HTTP 400)."""


class QueryParameterError(ValueError):
    """A QIDO-RS query parameter is not understood (HTTP 400)."""


class ResourceNotFound(LookupError):
    """No stored instance matches the URL (HTTP 404)."""


def check_uid(value: str) -> str:
    if len(value) > 64 or not _UID.match(value):
        raise InvalidUID("not a DICOM UID (digits and dots, at most 64 characters)")
    return value


@dataclass(frozen=True)
class StudyRef:
    """What access control and the audit trail need to know about a study."""

    study_instance_uid: str
    patient_id: str
    referring_physician_name: str


@dataclass(frozen=True)
class StoredInstance:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    file_key: str
    number_of_frames: int | None
    has_pixels: bool


# The statements below run on every DICOMweb request: each is built once, with bound
# parameters (building a SELECT costs about as much as running it on an indexed column).
_STUDY_REF = select(
    Study.study_instance_uid, Study.patient_id, Study.referring_physician_name
).where(Study.study_instance_uid == bindparam("study"))


def study_ref(session: Session, study_uid: str) -> StudyRef:
    """The study row's identity; raises ResourceNotFound."""
    row = session.execute(_STUDY_REF, {"study": study_uid}).first()
    if row is None:
        raise ResourceNotFound("no such study")
    return StudyRef(row[0], row[1], row[2])


Columns = tuple[Any, ...]  # mapped attributes to select (hashable: statements are cached by them)
_ORDER = (Series.series_number, Series.id, Instance.instance_number, Instance.id)


@cache
def _under(columns: Columns, series: bool, instance: bool) -> Select[Any]:
    """SELECT columns of the instances under a study [series [instance]], in display order."""
    query = (
        select(*columns)
        .join(Series, Instance.series_fk == Series.id)
        .join(Study, Series.study_fk == Study.id)
        .where(Study.study_instance_uid == bindparam("study"))
        .order_by(*_ORDER)
    )
    if series:
        query = query.where(Series.series_instance_uid == bindparam("series"))
    if instance:
        query = query.where(Instance.sop_instance_uid == bindparam("instance"))
    return query


def _rows_under(
    session: Session,
    columns: Columns,
    study: str,
    series: str | None,
    instance: str | None,
) -> Sequence[Any]:
    query = _under(columns, series is not None, instance is not None)
    rows = session.execute(query, {"study": study, "series": series, "instance": instance}).all()
    if not rows:
        raise ResourceNotFound("no such resource")
    return rows


_STORED: Columns = (
    Study.study_instance_uid,
    Series.series_instance_uid,
    Instance.sop_instance_uid,
    Instance.sop_class_uid,
    Instance.transfer_syntax_uid,
    Instance.file_key,
    Instance.number_of_frames,
    Instance.rows,
)


def stored_instances(
    session: Session, study: str, series: str | None = None, instance: str | None = None
) -> list[StoredInstance]:
    """Instances under the resource, in series then instance number order; never empty.

    Raises ResourceNotFound.
    """
    rows = _rows_under(session, _STORED, study, series, instance)
    return [
        StoredInstance(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] is not None) for r in rows
    ]


@dataclass(frozen=True)
class MetadataRow:
    series_instance_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    metadata_json: str


_METADATA: Columns = (
    Series.series_instance_uid,
    Instance.sop_instance_uid,
    Instance.transfer_syntax_uid,
    Instance.metadata_json,
)


def metadata_rows(
    session: Session, study: str, series: str | None = None, instance: str | None = None
) -> list[MetadataRow]:
    """The DICOM JSON computed at ingest for each instance of the resource; never empty.

    Raises ResourceNotFound.
    """
    rows = _rows_under(session, _METADATA, study, series, instance)
    return [MetadataRow(r[0], r[1], r[2], r[3]) for r in rows]
