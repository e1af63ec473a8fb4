"""``/api/claims``: the HIS sends whole treatment episodes; clerks look at where a claim stands.

``POST /api/claims/episodes`` takes one episode as JSON (the payload ``claims.records.service``
describes: ``XML1`` … ``XML15`` plus ``accession_numbers`` linking XML3 rows to imaging orders).
It is checked completely and stored whole, or refused with 422 listing every problem by field in
Vietnamese and English (``RecordInvalid``, mapped in ``gateway.errors``); an episode the portal
has accepted cannot be replaced (409). Access is set by the policy table: the HIS with an API key
holding the ``claims`` scope, or a claims clerk / IT user. Every call is audited in the same
transaction as its data.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from claims.codes import CodeLists, load_code_lists
from claims.errors import EpisodeNotFound
from claims.records.models import ClaimEpisode
from claims.records.service import import_episode
from gateway.deps import (
    CurrentPrincipal,
    Principal,
    SessionDep,
    WriteSessionDep,
    record_action,
)
from pacs.index.models import Study

router = APIRouter(prefix="/api/claims", tags=["claims"])

JsonBody = Annotated[dict[str, Any], Body()]


def _code_lists(request: Request) -> CodeLists:
    """The code lists, read from their files once per app (they change with a deployment)."""
    codes: CodeLists | None = getattr(request.app.state, "claims_code_lists", None)
    if codes is None:
        codes = load_code_lists(request.app.state.settings.claims.code_list_dir)
        request.app.state.claims_code_lists = codes
    return codes


def _audit(session: Session, principal: Principal, action: str, ma_lk: str,
           patient_id: str, detail: str = "") -> None:
    record_action(session, principal, action, patient_id=patient_id,
                  detail=f"MA_LK {ma_lk}" + (f"; {detail}" if detail else ""))


@router.post("/episodes", status_code=201)
def post_episode(body: JsonBody, request: Request, principal: CurrentPrincipal,
                 session: WriteSessionDep) -> dict[str, Any]:
    """Store one whole episode (a re-sent MA_LK replaces the earlier record)."""
    codes = _code_lists(request)
    with session.begin():
        result = import_episode(session, body, source="api", codes=codes)
        xml1 = body.get("XML1")
        patient_id = str(xml1.get("MA_BN", "")) if isinstance(xml1, dict) else ""
        _audit(session, principal, "claims.episode.import", result.ma_lk, patient_id,
               f"{result.rows} rows")
        return {"ma_lk": result.ma_lk, "episode_id": result.episode_id, "rows": result.rows,
                "warnings": [p.as_dict() for p in result.warnings]}


@router.get("/episodes/{ma_lk}")
def read_episode(ma_lk: str, request: Request, principal: CurrentPrincipal,
                 session: SessionDep) -> dict[str, Any]:
    """Where one episode stands: totals, exported versions and their portal status, and
    whether each imaging line's accession number has reached the archive."""
    with session.begin():
        episode = session.scalars(
            select(ClaimEpisode).where(ClaimEpisode.ma_lk == ma_lk)
            .options(selectinload(ClaimEpisode.rows), selectinload(ClaimEpisode.exports))
        ).one_or_none()
        if episode is None:
            raise EpisodeNotFound(ma_lk)
        accessions = sorted({r.accession_number for r in episode.rows if r.accession_number})
        stored = set(session.scalars(
            select(Study.accession_number).where(Study.accession_number.in_(accessions))
        )) if accessions else set()
        xml1: dict[str, Any] = next((json.loads(r.fields_json) for r in episode.rows
                                     if r.table_name == "XML1"), {})
        view = {
            "ma_lk": episode.ma_lk, "closed_on": episode.closed_on.isoformat(),
            "ma_loai_kcb": episode.ma_loai_kcb, "t_tongchi_bv": str(episode.t_tongchi_bv),
            "t_bhtt": str(episode.t_bhtt), "source": episode.source,
            "imaging": [{"accession_number": a, "study_in_archive": a in stored}
                        for a in accessions],
            "exports": [{"version": x.version, "export_day": x.export_day.isoformat(),
                         "file_name": x.file_name, "status": x.status,
                         "portal_message": x.portal_message} for x in episode.exports],
        }
    audit_sessions: sessionmaker[Session] = request.app.state.audit_sessions
    with audit_sessions.begin() as audit_session:
        _audit(audit_session, principal, "claims.episode.read", ma_lk, str(xml1.get("MA_BN", "")))
    return view
