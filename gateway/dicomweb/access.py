"""Per-study access for DICOMweb, on top of the per-route policy (``gateway.auth.policy``).

The router's policy has already decided that the caller's role or API key scope may use the
route. Here the study itself is checked and the access is audited with its study UID and
patient ID (``lienthong.audit``):

- a referring doctor sees only studies whose Referring Physician's Name is theirs: the
  user name, read as a person name (``tran.van.binh`` ↔ ``Trần^Văn Bình``), compared without
  case or Vietnamese diacritics;
- an external specialist sees no study until consultation sharing exists (the policy already
  refuses them; this is the second lock);
- everyone else the policy admits sees every study.

Each granted access is audited once, by the router's policy, with the study UID and the
patient ID (resolved here, ``patient_resolver``); a refusal here adds a DENIED row. If an audit
row cannot be written the request fails (503), before any patient data is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gateway.auth.errors import AuditUnavailable, Forbidden
from gateway.auth.roles import Role
from gateway.deps import Principal, client_address, current_principal
from gateway.dicomweb.resources import (
    InvalidUID,
    ResourceNotFound,
    StudyRef,
    check_uid,
    study_ref,
)
from lienthong import audit
from pacs.archive import Archive
from pacs.index.attributes import fold_name

_SEPARATORS = re.compile(r"[\^._@\-\s]+")


def person_key(name: str) -> str:
    """A person name or user name reduced for comparison: folded words, single spaces."""
    return " ".join(_SEPARATORS.split(fold_name(name))).strip()


def may_see(principal: Principal, study: StudyRef) -> bool:
    """Whether the caller may see this study (the route is already allowed by the policy)."""
    if principal.kind != "user":
        return True  # API keys are scoped by the policy (dicomweb / stow scopes)
    if principal.role == Role.EXTERNAL_SPECIALIST:
        return False
    if principal.role == Role.REFERRING_DOCTOR:
        return bool(study.referring_physician_name) and person_key(
            study.referring_physician_name
        ) == person_key(principal.name)
    return True


def record_access(
    request: Request,
    principal: Principal,
    outcome: audit.Outcome,
    *,
    study_instance_uid: str | None,
    patient_id: str | None,
    detail: str,
) -> None:
    """Append one audit row for a study access; raises AuditUnavailable if it cannot."""
    route = request.scope.get("route")
    sessions: sessionmaker[Session] = request.app.state.audit_sessions
    try:
        with sessions.begin() as session:
            audit.record(
                session,
                actor=principal.name,
                actor_kind=principal.kind,
                role=str(principal.role) if principal.role else None,
                action=f"{request.method} {getattr(route, 'path', request.url.path)}",
                outcome=outcome,
                address=client_address(request),
                study_instance_uid=study_instance_uid,
                patient_id=patient_id,
                detail=detail,
            )
    except SQLAlchemyError as exc:
        raise AuditUnavailable("the audit trail cannot be written; try again later") from exc


def _cached_study(request: Request, archive: Archive, study_uid: str) -> StudyRef:
    """The study of this request, read once per request (the policy's audit row needs its
    patient, then ``check_study`` its referring physician). Raises InvalidUID, ResourceNotFound.
    """
    cached: StudyRef | None = getattr(request.state, "study_ref", None)
    if cached is not None and cached.study_instance_uid == study_uid:
        return cached
    with archive.sessions() as session:
        study = study_ref(session, check_uid(study_uid))
    request.state.study_ref = study
    return study


def patient_resolver(archive: Archive) -> Callable[[Request, str], str | None]:
    """``app.state.patient_for_study``: the Patient ID of a study UID, for the policy's audit
    row (``gateway.deps.audit_request``); None for anything that is not a stored study."""

    def patient_for_study(request: Request, study_uid: str) -> str | None:
        try:
            return _cached_study(request, archive, study_uid).patient_id or None
        except (InvalidUID, ResourceNotFound):
            return None

    return patient_for_study


def check_study(request: Request, study_uid: str) -> StudyRef:
    """Resolve the study and refuse it if the caller may not see it.

    The granted access is already audited, with this study and its patient, by the router's
    policy (``gateway.deps.audit_request`` resolves the patient through ``patient_resolver``);
    a refusal here writes its own DENIED row. Raises InvalidUID (400), ResourceNotFound (404),
    Forbidden (403), AuditUnavailable (503).
    """
    principal = current_principal(request)
    study = _cached_study(request, request.app.state.archive, study_uid)
    if not may_see(principal, study):
        record_access(
            request,
            principal,
            audit.Outcome.DENIED,
            study_instance_uid=study.study_instance_uid,
            patient_id=study.patient_id,
            detail="study outside the caller's scope",
        )
        raise Forbidden("this study is outside what your role may see")
    return study


async def study_from_path(request: Request, study: str) -> StudyRef:
    """Dependency for routes under /studies/{study}: the checked, audited study.

    In the usual case the router's policy has already authenticated the caller and read the
    study (for its audit row), and the caller may see it: then nothing is left to read or write
    and the check runs here, without a hand-off to the thread pool. Anything else (a study not
    read yet, a refusal to audit) goes through ``check_study`` in the thread pool.
    """
    principal: Principal | None = getattr(request.state, "principal", None)
    cached: StudyRef | None = getattr(request.state, "study_ref", None)
    if (
        principal is not None
        and cached is not None
        and cached.study_instance_uid == study
        and may_see(principal, cached)
    ):
        return cached
    return await run_in_threadpool(check_study, request, study)


StudyAccess = Annotated[StudyRef, Depends(study_from_path)]
