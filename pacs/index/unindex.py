"""Removing an instance's index row with the counters it added (the inverse of
index_instance): used where a row must go because its file is not what was indexed."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from pacs.index.models import Instance, Series, Study
from pacs.orders.models import ImagingOrder

log = logging.getLogger(__name__)


def unindex_instance(session: Session, instance: Instance) -> None:
    """Delete ``instance``'s row and take it out of its series' and study's counts; a series
    left empty goes too, and a study left empty unless an order is linked to it (the order
    keeps its link; new images for it land in the same study row)."""
    series = session.get_one(Series, instance.series_fk)
    study = session.get_one(Study, series.study_fk)
    session.delete(instance)
    series.number_of_instances -= 1
    study.number_of_instances -= 1
    study.size_bytes -= instance.size_bytes
    if series.number_of_instances > 0:
        return
    session.delete(series)
    session.flush()
    study.number_of_series -= 1
    left = session.scalars(select(Series.modality).where(Series.study_fk == study.id)).all()
    study.modalities_in_study = "\\".join(sorted({m for m in left if m}))
    ordered = session.scalar(select(ImagingOrder.id).where(ImagingOrder.study_fk == study.id))
    if study.number_of_series == 0 and ordered is None:
        session.delete(study)
