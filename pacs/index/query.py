"""The one matching engine of the index: C-FIND (Patient Root, Study Root) and QIDO-RS use it.

The boundary is plain data, not pydicom: filters are ``{DICOM keyword: value}`` with values
written as they would appear in a C-FIND identifier (``"20260101-"``, ``"Nguy*"``,
``"1.2.3\\1.2.4"``), and each match is a ``dict`` keyed by DICOM keyword. Matching follows
PS3.4 C.2.2.2 and runs as one SQL statement on indexed columns; nothing is scanned in Python.

Matching rules (our conformance statement):

- Universal: an empty value, or ``*`` alone, matches everything (the key is still returned).
- Single value: exact and case-sensitive, after stripping leading/trailing spaces.
- Wildcard: ``*`` (any run) and ``?`` (one character) in string and person-name values; SQL
  wildcards in the value are escaped, so ``%`` and ``_`` match themselves. Not allowed in UIDs.
- List: values separated by ``\\`` match any of them (UIDs, codes, names, dates).
- Range: ``A-B``, ``A-`` and ``-B`` on DA, TM and DT; bounds are inclusive at their stated
  precision (``-1000`` includes 10:00:59); empty stored values never match a range.
  With ``combined_datetime`` a DA range and a TM range on the same pair (StudyDate/StudyTime, ...)
  form one date-time range (PS3.4 C.2.2.2.5.1).
- Person names are matched on the decoded Unicode value. Without fuzzy matching they are
  case-sensitive as the standard says; with ``fuzzy`` (PS3.4 C.2.2.2.1.1) patient names are
  matched on the folded column: case-insensitive and without Vietnamese diacritics, so
  ``NGUYEN^VAN*`` finds "Nguyễn^Văn An".
- Keys that are not in the index (e.g. sequences at these levels) are not matched on; the
  caller reports them as unsupported optional keys.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, and_, exists, func, or_, select, true
from sqlalchemy.orm import Session

from pacs.errors import InvalidIdentifier, TooManyMatches
from pacs.index.attributes import fold_name
from pacs.index.models import Instance, Patient, Series, Study

Match = dict[str, Any]


class QueryLevel(enum.StrEnum):
    """Query/Retrieve Level (0008,0052)."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class InformationModel(enum.StrEnum):
    """The Query/Retrieve information model (PS3.4 C.6): which levels exist and their keys."""

    PATIENT_ROOT = "PATIENT_ROOT"
    STUDY_ROOT = "STUDY_ROOT"


class Kind(enum.Enum):
    """How a key is matched (PS3.4 C.2.2.2, by value representation)."""

    UID = "UI"
    DATE = "DA"
    TIME = "TM"
    DATETIME = "DT"
    PERSON_NAME = "PN"
    TEXT = "text"  # AE, CS, LO, SH: single value and wildcard
    NUMBER = "IS"
    MODALITIES = "ModalitiesInStudy"  # any series of the study has the modality
    COUNT = "count"  # computed, returned but never matched


@dataclass(frozen=True)
class Attribute:
    keyword: str
    kind: Kind
    column: ColumnElement[Any]
    folded: ColumnElement[Any] | None = None  # the diacritic-free column for fuzzy matching


_ORDER = (QueryLevel.PATIENT, QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.IMAGE)

# The unique key of each level (PS3.4 C.6.1.1 / C.6.2.1).
UNIQUE_KEYS: Mapping[QueryLevel, str] = {
    QueryLevel.PATIENT: "PatientID",
    QueryLevel.STUDY: "StudyInstanceUID",
    QueryLevel.SERIES: "SeriesInstanceUID",
    QueryLevel.IMAGE: "SOPInstanceUID",
}


def _a(keyword: str, kind: Kind, column: Any, folded: Any = None) -> Attribute:
    return Attribute(keyword, kind, column, folded)


def _patient_counts() -> list[Attribute]:
    studies = select(func.count(Study.id)).where(Study.patient_fk == Patient.id)
    series = select(func.coalesce(func.sum(Study.number_of_series), 0)).where(
        Study.patient_fk == Patient.id
    )
    instances = select(func.coalesce(func.sum(Study.number_of_instances), 0)).where(
        Study.patient_fk == Patient.id
    )
    return [
        _a("NumberOfPatientRelatedStudies", Kind.COUNT, studies.scalar_subquery()),
        _a("NumberOfPatientRelatedSeries", Kind.COUNT, series.scalar_subquery()),
        _a("NumberOfPatientRelatedInstances", Kind.COUNT, instances.scalar_subquery()),
    ]


def _patient_level() -> list[Attribute]:
    return [
        _a("PatientID", Kind.TEXT, Patient.patient_id),
        _a("PatientName", Kind.PERSON_NAME, Patient.patient_name, Patient.patient_name_folded),
        _a("IssuerOfPatientID", Kind.TEXT, Patient.issuer_of_patient_id),
        _a("PatientBirthDate", Kind.DATE, Patient.birth_date),
        _a("PatientSex", Kind.TEXT, Patient.sex),
        *_patient_counts(),
    ]


def _study_level() -> list[Attribute]:
    # Below the patient level the study's own copy of the patient attributes is matched: it
    # is indexed on the study row, so Study Root queries by patient need no join to filter.
    return [
        _a("PatientID", Kind.TEXT, Study.patient_id),
        _a("PatientName", Kind.PERSON_NAME, Study.patient_name, Study.patient_name_folded),
        _a("IssuerOfPatientID", Kind.TEXT, Patient.issuer_of_patient_id),
        _a("PatientBirthDate", Kind.DATE, Study.patient_birth_date),
        _a("PatientSex", Kind.TEXT, Study.patient_sex),
        _a("StudyInstanceUID", Kind.UID, Study.study_instance_uid),
        _a("StudyDate", Kind.DATE, Study.study_date),
        _a("StudyTime", Kind.TIME, Study.study_time),
        _a("AccessionNumber", Kind.TEXT, Study.accession_number),
        _a("StudyID", Kind.TEXT, Study.study_id),
        _a("StudyDescription", Kind.TEXT, Study.study_description),
        _a("ReferringPhysicianName", Kind.PERSON_NAME, Study.referring_physician_name),
        _a("ModalitiesInStudy", Kind.MODALITIES, Study.modalities_in_study),
        _a("NumberOfStudyRelatedSeries", Kind.COUNT, Study.number_of_series),
        _a("NumberOfStudyRelatedInstances", Kind.COUNT, Study.number_of_instances),
    ]


def _series_level() -> list[Attribute]:
    return [
        _a("SeriesInstanceUID", Kind.UID, Series.series_instance_uid),
        _a("Modality", Kind.TEXT, Series.modality),
        _a("SeriesNumber", Kind.NUMBER, Series.series_number),
        _a("SeriesDescription", Kind.TEXT, Series.series_description),
        _a("SeriesDate", Kind.DATE, Series.series_date),
        _a("SeriesTime", Kind.TIME, Series.series_time),
        _a("BodyPartExamined", Kind.TEXT, Series.body_part_examined),
        _a("StationName", Kind.TEXT, Series.station_name),
        _a(
            "PerformedProcedureStepStartDate",
            Kind.DATE,
            Series.performed_procedure_step_start_date,
        ),
        _a(
            "PerformedProcedureStepStartTime",
            Kind.TIME,
            Series.performed_procedure_step_start_time,
        ),
        _a("NumberOfSeriesRelatedInstances", Kind.COUNT, Series.number_of_instances),
    ]


def _image_level() -> list[Attribute]:
    return [
        _a("SOPInstanceUID", Kind.UID, Instance.sop_instance_uid),
        _a("SOPClassUID", Kind.UID, Instance.sop_class_uid),
        _a("InstanceNumber", Kind.NUMBER, Instance.instance_number),
        _a("Rows", Kind.NUMBER, Instance.rows),
        _a("Columns", Kind.NUMBER, Instance.columns),
        _a("NumberOfFrames", Kind.NUMBER, Instance.number_of_frames),
        _a("ContentDate", Kind.DATE, Instance.content_date),
        _a("ContentTime", Kind.TIME, Instance.content_time),
        _a("AcquisitionDateTime", Kind.DATETIME, Instance.acquisition_datetime),
        _a("AvailableTransferSyntaxUID", Kind.UID, Instance.transfer_syntax_uid),
    ]


def attributes(level: QueryLevel | str) -> dict[str, Attribute]:
    """Every key that can be matched or returned at `level` (its own and the levels above)."""
    level = QueryLevel(level)
    if level is QueryLevel.PATIENT:
        found = _patient_level()
    else:
        found = _study_level()
        if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
            found += _series_level()
        if level is QueryLevel.IMAGE:
            found += _image_level()
    return {a.keyword: a for a in found}


def supported_keys(level: QueryLevel | str) -> frozenset[str]:
    return frozenset(attributes(level))


def levels(model: InformationModel) -> tuple[QueryLevel, ...]:
    return _ORDER if model is InformationModel.PATIENT_ROOT else _ORDER[1:]


def required_keys(model: InformationModel, level: QueryLevel) -> list[str]:
    """Unique keys of the levels above `level` (hierarchical query) in the model."""
    above = levels(model)[: levels(model).index(level)]
    return [UNIQUE_KEYS[lv] for lv in above]


def response_keys(model: InformationModel, level: QueryLevel) -> list[str]:
    """Unique keys that every response at `level` carries (PS3.4 C.4.1.2.3)."""
    return [*required_keys(model, level), UNIQUE_KEYS[level]]


# --- value parsing -------------------------------------------------------------------------

_DATE = re.compile(r"\d{8}")
_TIME = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")
# DT ranges are matched without UTC offsets (stored values are compared as written).
_DATETIME = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?")
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
# Sorts after every digit and '.', so "<= bound + _TOP" includes all values at finer precision.
_TOP = "~"


def _is_wild(value: str) -> bool:
    return "*" in value or "?" in value


def _range(keyword: str, value: str, pattern: re.Pattern[str]) -> tuple[str, str]:
    """Split a DA/TM/DT value into (low, high) bounds; '' means open. Single: low == high."""
    if value.count("-") > 1:
        raise InvalidIdentifier(f"{keyword}: malformed range {value!r}")
    low, sep, high = value.partition("-")
    if not sep:
        high = low
    for bound in (low, high):
        if bound and not pattern.fullmatch(bound):
            raise InvalidIdentifier(f"{keyword}: {bound!r} is not a valid value")
    if not (low or high):
        raise InvalidIdentifier(f"{keyword}: a range needs at least one bound")
    return low, high


def _bounded(column: ColumnElement[Any], low: str, high: str) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [column != ""]
    if low:
        conditions.append(column >= low)
    if high:
        conditions.append(column <= high + _TOP)
    return and_(*conditions)


# --- matching -------------------------------------------------------------------------------


def _glob(value: str) -> str:
    # SQLite GLOB: * and ? keep their meaning; '[' opens a class, so it is bracketed.
    return value.replace("[", "[[]")


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _text(column: ColumnElement[Any], value: str, dialect: str) -> ColumnElement[bool]:
    if not _is_wild(value):
        return column == value
    if dialect == "sqlite":
        # SQLite's LIKE ignores ASCII case; GLOB is case-sensitive and uses the index for
        # prefix patterns, so matching means the same on SQLite and PostgreSQL.
        return column.op("GLOB")(_glob(value))
    return column.like(_like(value), escape="\\")


def _single(attr: Attribute, value: str, fuzzy: bool, dialect: str) -> ColumnElement[bool]:
    kind, column = attr.kind, attr.column
    if kind is Kind.UID:
        if _is_wild(value) or not _UID.fullmatch(value) or len(value) > 64:
            raise InvalidIdentifier(f"{attr.keyword}: {value!r} is not a UID")
        return column == value
    if kind is Kind.DATE:
        return _bounded(column, *_range(attr.keyword, value, _DATE))
    if kind is Kind.TIME:
        return _bounded(column, *_range(attr.keyword, value, _TIME))
    if kind is Kind.DATETIME:
        return _bounded(column, *_range(attr.keyword, value, _DATETIME))
    if kind is Kind.NUMBER:
        try:
            return column == int(value)
        except ValueError:
            raise InvalidIdentifier(f"{attr.keyword}: {value!r} is not a number") from None
    if kind is Kind.PERSON_NAME and fuzzy and attr.folded is not None:
        return _text(attr.folded, fold_name(value), dialect)
    if kind is Kind.MODALITIES:
        modality = _text(Series.modality.expression, value, dialect)
        return exists(select(Series.id).where(Series.study_fk == Study.id, modality))
    return _text(column, value, dialect)


def condition(
    attr: Attribute, value: str, fuzzy: bool, dialect: str
) -> ColumnElement[bool] | None:
    """The SQL condition for one key's value; None for universal matching.

    Shared with the worklist, whose keys are columns of the order table.
    """
    value = value.strip()
    if attr.kind is Kind.COUNT or value in ("", "*"):
        return None  # universal matching
    items = [v.strip() for v in value.split("\\")]
    if attr.kind is Kind.UID and len(items) > 1:
        for item in items:
            _single(attr, item, fuzzy, dialect)  # validates each UID
        return attr.column.in_(items)
    conditions = [_single(attr, item, fuzzy, dialect) for item in items if item]
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else or_(*conditions)


_DATE_TIME_PAIRS = (
    ("StudyDate", "StudyTime"),
    ("SeriesDate", "SeriesTime"),
    ("ContentDate", "ContentTime"),
    ("PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime"),
)


def _combined(
    attrs: Mapping[str, Attribute], filters: Mapping[str, str]
) -> tuple[list[ColumnElement[bool]], set[str]]:
    """PS3.4 C.2.2.2.5.1: a DA range with a TM range means one date-time range."""
    conditions: list[ColumnElement[bool]] = []
    consumed: set[str] = set()
    for date_key, time_key in _DATE_TIME_PAIRS:
        date_value = filters.get(date_key, "").strip()
        time_value = filters.get(time_key, "").strip()
        if date_key not in attrs or "-" not in date_value or "-" not in time_value:
            continue
        d_low, d_high = _range(date_key, date_value, _DATE)
        t_low, t_high = _range(time_key, time_value, _TIME)
        date, time = attrs[date_key].column, attrs[time_key].column
        parts: list[ColumnElement[bool]] = [date != ""]
        if d_low:
            parts.append(or_(date > d_low, and_(date == d_low, time >= t_low)))
        if d_high:
            upper = time <= t_high + _TOP if t_high else true()
            parts.append(or_(date < d_high, and_(date == d_high, upper)))
        conditions.append(and_(*parts))
        consumed |= {date_key, time_key}
    return conditions, consumed


def _from(level: QueryLevel) -> FromClause:
    if level is QueryLevel.PATIENT:
        return Patient.__table__
    joined = Study.__table__.join(Patient.__table__, Study.patient_fk == Patient.id)
    if level in (QueryLevel.SERIES, QueryLevel.IMAGE):
        joined = Series.__table__.join(joined, Series.study_fk == Study.id)
    if level is QueryLevel.IMAGE:
        joined = Instance.__table__.join(joined, Instance.series_fk == Series.id)
    return joined


_PRIMARY = {
    QueryLevel.PATIENT: Patient.id,
    QueryLevel.STUDY: Study.id,
    QueryLevel.SERIES: Series.id,
    QueryLevel.IMAGE: Instance.id,
}


def check_level(model: InformationModel, level: str) -> QueryLevel:
    """The level as an enum; raises InvalidIdentifier when the model has no such level."""
    try:
        parsed = QueryLevel(level.strip().upper())
    except ValueError:
        raise InvalidIdentifier(f"QueryRetrieveLevel {level!r} is not supported") from None
    if parsed not in levels(model):
        raise InvalidIdentifier(f"QueryRetrieveLevel {parsed} does not exist in {model}")
    return parsed


def _check_hierarchy(
    model: InformationModel, level: QueryLevel, filters: Mapping[str, str]
) -> None:
    """PS3.4 C.4.1.2.1: a hierarchical query names the unique key of every level above."""
    for key in required_keys(model, level):
        value = filters.get(key, "").strip()
        if not value or _is_wild(value) or (key == "PatientID" and "\\" in value):
            raise InvalidIdentifier(
                f"{key} must hold a single value for a {level} level query (hierarchical)"
            )


def build_query(
    level: QueryLevel | str,
    filters: Mapping[str, str],
    *,
    model: InformationModel,
    dialect: str,
    fuzzy: bool = False,
    relational: bool = False,
    combined_datetime: bool = False,
) -> Select[Any]:
    """The SELECT that finds the matches (every key of the level, labelled by keyword)."""
    level = check_level(model, str(level))
    if not relational:
        _check_hierarchy(model, level, filters)
    attrs = attributes(level)
    stmt = select(*[a.column.label(a.keyword) for a in attrs.values()]).select_from(_from(level))
    consumed: set[str] = set()
    if combined_datetime:
        conditions, consumed = _combined(attrs, filters)
        stmt = stmt.where(*conditions)
    for keyword, value in filters.items():
        attr = attrs.get(keyword)
        if attr is None or keyword in consumed or value is None:
            continue
        where = condition(attr, str(value), fuzzy, dialect)
        if where is not None:
            stmt = stmt.where(where)
    return stmt.order_by(_PRIMARY[level])


def find(
    session: Session,
    level: QueryLevel | str,
    filters: Mapping[str, str],
    *,
    model: InformationModel = InformationModel.STUDY_ROOT,
    fuzzy: bool = False,
    relational: bool = False,
    combined_datetime: bool = False,
    limit: int | None = None,
    offset: int = 0,
    max_results: int | None = None,
) -> list[Match]:
    """The matches of `filters` at `level`, in index order, as dicts keyed by DICOM keyword.

    `relational` lifts the hierarchical rule (QIDO-RS and negotiated relational queries).
    Raises InvalidIdentifier for a malformed value, an unknown level or a missing unique key
    above the level; TooManyMatches when more than `max_results` rows would be returned
    (only `max_results` + 1 rows are ever read).
    """
    bind = session.get_bind()
    stmt = build_query(
        level,
        filters,
        model=model,
        dialect=bind.dialect.name,
        fuzzy=fuzzy,
        relational=relational,
        combined_datetime=combined_datetime,
    )
    if offset:
        stmt = stmt.offset(offset)
    fetch = limit
    if max_results is not None:
        fetch = max_results + 1 if limit is None else min(limit, max_results + 1)
    if fetch is not None:
        stmt = stmt.limit(fetch)
    result = session.execute(stmt)
    keys = list(result.keys())  # once: a RowMapping per row costs more than the row
    matches = [dict(zip(keys, row, strict=True)) for row in result]
    if max_results is not None and len(matches) > max_results:
        raise TooManyMatches(f"more than {max_results} matches; narrow the query")
    return matches


def render(match: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The requested keys of one match; keys the index does not hold are left out."""
    return {key: match[key] for key in keys if key in match}
