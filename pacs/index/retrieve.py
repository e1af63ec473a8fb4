"""Which stored instances a retrieve names: C-MOVE, C-GET (and WADO-RS) resolve through here.

The boundary is plain data: filters are ``{keyword: value}`` as in a retrieve identifier
(PS3.4 C.4.2.2.1 / C.4.3.2.1): the unique keys of the levels above the retrieve level as single
values, and the unique key of the level itself as one UID or a backslash-separated list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from pacs.errors import InvalidIdentifier, TooManyMatches
from pacs.index.models import Instance, Patient, Series, Study
from pacs.index.query import UNIQUE_KEYS, InformationModel, QueryLevel, check_level, levels

# C-GET/C-MOVE report sub-operation counts as US (PS3.7 C.4.2/C.4.3): at most 65535.
MAX_SUBOPERATIONS = 65535

_COLUMNS: Mapping[str, ColumnElement[str]] = {
    "PatientID": Patient.patient_id.expression,
    "StudyInstanceUID": Study.study_instance_uid.expression,
    "SeriesInstanceUID": Series.series_instance_uid.expression,
    "SOPInstanceUID": Instance.sop_instance_uid.expression,
}


@dataclass(frozen=True)
class StoredInstance:
    """One instance to send: what it is and where its file is (our own key)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    file_key: str
    sha256: str


def _values(keyword: str, value: str, *, single: bool) -> list[str]:
    items = [v.strip() for v in value.split("\\") if v.strip()]
    if not items:
        raise InvalidIdentifier(f"{keyword} is required for this retrieve level")
    if single and len(items) > 1:
        raise InvalidIdentifier(f"{keyword} must be a single value above the retrieve level")
    if any("*" in v or "?" in v for v in items):
        raise InvalidIdentifier(f"{keyword}: wildcards are not allowed in a retrieve")
    return items


def resolve(
    session: Session,
    level: QueryLevel | str,
    filters: Mapping[str, str],
    *,
    model: InformationModel = InformationModel.STUDY_ROOT,
    limit: int = MAX_SUBOPERATIONS,
) -> list[StoredInstance]:
    """The instances named by a retrieve identifier, ordered by series and instance number.

    Raises InvalidIdentifier when a required unique key is missing, holds a wildcard, or is a
    list above the retrieve level; TooManyMatches beyond `limit` instances.
    """
    level = check_level(model, str(level))
    path = levels(model)[: levels(model).index(level) + 1]
    stmt = (
        select(
            Instance.sop_class_uid,
            Instance.sop_instance_uid,
            Instance.transfer_syntax_uid,
            Instance.file_key,
            Instance.sha256,
        )
        .join(Series, Instance.series_fk == Series.id)
        .join(Study, Series.study_fk == Study.id)
        .join(Patient, Study.patient_fk == Patient.id)
    )
    for lv in path:
        keyword = UNIQUE_KEYS[lv]
        values = _values(keyword, filters.get(keyword, ""), single=lv is not level)
        column = _COLUMNS[keyword]
        stmt = stmt.where(column.in_(values) if len(values) > 1 else column == values[0])
    stmt = stmt.order_by(Series.id, Instance.instance_number, Instance.id).limit(limit + 1)
    found = [StoredInstance(*row) for row in session.execute(stmt)]
    if len(found) > limit:
        raise TooManyMatches(f"the retrieve names more than {limit} instances")
    return found
