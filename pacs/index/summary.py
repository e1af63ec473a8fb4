"""What is stored, study by study: hospital IT's first check (`lienthong studies`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pacs.index.models import Study


@dataclass(frozen=True)
class StudySummary:
    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    accession_number: str
    modalities: str
    series: int
    instances: int
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_studies(session: Session, limit: int | None = None) -> list[StudySummary]:
    query = select(Study).order_by(Study.study_date.desc(), Study.id.desc())
    if limit:
        query = query.limit(limit)
    return [
        StudySummary(
            study_instance_uid=s.study_instance_uid,
            patient_id=s.patient_id,
            patient_name=s.patient_name,
            study_date=s.study_date,
            accession_number=s.accession_number,
            modalities=s.modalities_in_study,
            series=s.number_of_series,
            instances=s.number_of_instances,
            size_bytes=s.size_bytes,
        )
        for s in session.scalars(query)
    ]
