"""``GET /api/worklist``: the reading worklist (studies + report status) for the viewer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gateway.deps import SessionDep
from pacs.errors import InvalidIdentifier
from pacs.reports.worklist import (
    MAX_ROWS,
    WorklistFilter,
    WorklistRow,
    WorklistStatus,
    search_worklist,
)

router = APIRouter(prefix="/api/worklist", tags=["reports"])
DateParam = Annotated[str, Query(pattern=r"^(\d{8})?$", description="YYYYMMDD")]


class WorklistPage(BaseModel):
    total: int
    studies: list[WorklistRow]


@router.get("", response_model=WorklistPage)
def worklist(
    session: SessionDep,
    date_from: DateParam = "",
    date_to: DateParam = "",
    modality: Annotated[str, Query(max_length=16)] = "",
    status: WorklistStatus | None = None,
    patient: Annotated[str, Query(max_length=64)] = "",
    accession: Annotated[str, Query(max_length=16)] = "",
    sort: Annotated[str, Query(max_length=32)] = "study_date",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> WorklistPage:
    """Studies matching the filters, with the status of their newest report version."""
    f = WorklistFilter(
        date_from=date_from, date_to=date_to, modality=modality, status=status, patient=patient,
        accession=accession, sort=sort, descending=order == "desc", limit=limit, offset=offset,
    )
    with session.begin():
        try:
            total, rows = search_worklist(session, f)
        except ValueError as exc:
            raise InvalidIdentifier(str(exc)) from exc
    return WorklistPage(total=total, studies=rows)
