"""FastAPI dependencies: settings, DB sessions, the authenticated principal and access checks.

Credentials, in the order they are looked at:
``Authorization: Bearer ltat_...`` (access token from ``/api/auth/token``),
``Authorization: Bearer lt_...`` or ``X-API-Key: lt_...`` (API key),
the ``lienthong_session`` cookie (browser session; state-changing methods must also carry
``X-CSRF-Token``). Presented but invalid credentials are a 401 even on routes that would
accept anonymous callers.

``require_role``, ``require_api_key`` and ``require_user_or_api_key`` grant or refuse access and
write one audit row per request for that decision (``lienthong.audit``), committed before the
route runs; if that write fails the request fails with 503 and the route never runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth.apikeys import find_api_key, mark_api_key_used
from gateway.auth.errors import AuditUnavailable, CsrfRejected, Forbidden, NotAuthenticated
from gateway.auth.roles import Role
from gateway.auth.secrets import API_KEY_PREFIX, csrf_token, same_secret
from gateway.auth.tokens import BEARER, BROWSER, resolve_access
from lienthong import audit
from lienthong.db import utcnow
from lienthong.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "lienthong_session"
CSRF_COOKIE = "lienthong_csrf"
CSRF_HEADER = "X-CSRF-Token"
API_KEY_HEADER = "X-API-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Path and query parameter names under which routes carry the study or patient they touch.
STUDY_PARAMS = ("study_instance_uid", "study_uid", "study", "StudyInstanceUID", "studyUID")
PATIENT_PARAMS = ("patient_id", "PatientID")


# Dependencies that only read app.state are ``async def``: FastAPI runs a plain ``def``
# dependency in the thread pool, a hand-off that costs more than the lookup itself.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_session(request: Request) -> Iterator[Session]:
    """A session for the route, which frames its own ``with session.begin():``."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    """A session whose transactions take the write lock at BEGIN on SQLite (for writes)."""
    sessions: sessionmaker[Session] = request.app.state.write_sessions
    with sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (with a role) or an API key (with scopes)."""

    kind: Literal["user", "api_key"]
    name: str
    role: Role | None
    scopes: frozenset[str]
    address: str
    login_session_id: int | None = None


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def _first_param(request: Request, names: Collection[str]) -> str | None:
    for name in names:
        value = request.path_params.get(name) or request.query_params.get(name)
        if value:
            return str(value)[:64]
    return None


def record_action(session: Session, principal: Principal, action: str, *,
                  patient_id: str | None = None, detail: str = "") -> None:
    """The audit row of a successful action by ``principal``, in the caller's transaction (so
    the row and the change it records commit together, or neither does)."""
    audit.record(session, actor=principal.name, actor_kind=principal.kind,
                 role=str(principal.role) if principal.role else None, action=action,
                 outcome=audit.Outcome.SUCCESS, address=principal.address,
                 patient_id=patient_id, detail=detail)


def audit_request(
    request: Request, principal: Principal | None, outcome: audit.Outcome, detail: str = ""
) -> None:
    """Write the audit row for this request's access decision, or raise AuditUnavailable.

    The study comes from the request's parameters; the patient too, or else from the index
    through ``app.state.patient_for_study`` (set by the DICOMweb gateway) when the request
    names a study only.
    """
    sessions: sessionmaker[Session] = request.app.state.audit_sessions
    study = _first_param(request, STUDY_PARAMS)
    patient = _first_param(request, PATIENT_PARAMS)
    resolve = getattr(request.app.state, "patient_for_study", None)
    if study and not patient and resolve is not None:
        patient = resolve(request, study)
    try:
        with sessions.begin() as session:
            audit.record(
                session,
                actor=principal.name if principal else "anonymous",
                actor_kind=principal.kind if principal else "anonymous",
                role=str(principal.role) if principal and principal.role else None,
                action=f"{request.method} {_route_template(request)}",
                outcome=outcome,
                address=client_address(request),
                study_instance_uid=study,
                patient_id=patient,
                detail=detail,
            )
            if principal is not None and principal.kind == "api_key" and \
                    outcome is audit.Outcome.SUCCESS:
                mark_api_key_used(session, principal.name, now=utcnow())
    except SQLAlchemyError as exc:
        log.error("audit write failed (%s); refusing the request", exc.__class__.__name__)
        raise AuditUnavailable("the audit trail cannot be written; try again later") from exc


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("unsupported Authorization scheme; use Bearer")
    return value.strip()


def _authenticate(request: Request, key: bytes, now: dt.datetime) -> Principal | None:
    address = client_address(request)
    bearer = _bearer(request)
    api_key = request.headers.get(API_KEY_HEADER)
    if bearer is not None and bearer.startswith(API_KEY_PREFIX):
        api_key, bearer = bearer, None
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        if bearer is not None:
            access = resolve_access(session, key, bearer, kind=BEARER, now=now)
            if access is None:
                raise NotAuthenticated("the access token is invalid or expired")
            return Principal("user", access.username, Role(access.role), frozenset(), address,
                             access.session_id)
        if api_key is not None:
            found = find_api_key(session, key, api_key.strip())
            if found is None:
                raise NotAuthenticated("the API key is invalid or revoked")
            return Principal("api_key", found.name, None, found.scope_set, address)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is None:
            return None
        access = resolve_access(session, key, cookie, kind=BROWSER, now=now)
        if access is None:
            raise NotAuthenticated("the session has ended; log in again")
        principal = Principal("user", access.username, Role(access.role), frozenset(), address,
                              access.session_id)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not same_secret(sent, csrf_token(key, cookie)):
            request.state.principal = principal
            raise CsrfRejected("missing or wrong CSRF token for a cookie-authenticated change")
    return principal


def authenticate(request: Request) -> Principal | None:
    """The caller, or None if no credentials were presented (cached for the request).

    Raises NotAuthenticated for credentials that do not verify, CsrfRejected for a cookie
    session's state change without its CSRF token.
    """
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal = _authenticate(request, request.app.state.secret_key, utcnow())
    request.state.principal = principal
    return principal


def authorize(
    request: Request, *, roles: Collection[Role], scopes: Collection[str]
) -> Principal:
    """Grant the request to a user holding one of ``roles`` or an API key with one of ``scopes``.

    Audits the decision (once per request when granted). Raises NotAuthenticated (401),
    Forbidden (403) or AuditUnavailable (503).
    """
    try:
        principal = authenticate(request)
    except (NotAuthenticated, CsrfRejected) as exc:
        audit_request(request, getattr(request.state, "principal", None),
                      audit.Outcome.DENIED, exc.reason)
        raise
    if principal is None:
        audit_request(request, None, audit.Outcome.DENIED, "no credentials")
        raise NotAuthenticated("authentication required")
    if principal.kind == "user":
        allowed = principal.role in roles
        why = f"role {principal.role} may not do this"
    else:
        allowed = bool(principal.scopes & set(scopes))
        why = "the API key's scopes do not include this endpoint"
    if not allowed:
        audit_request(request, principal, audit.Outcome.DENIED, why)
        raise Forbidden(why)
    if not getattr(request.state, "access_audited", False):
        audit_request(request, principal, audit.Outcome.SUCCESS)
        request.state.access_audited = True
    return principal


def require_role(*roles: Role) -> Callable[[Request], Principal]:
    """Dependency: a user with one of these roles (API keys are refused)."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Principal:
        return authorize(request, roles=allowed, scopes=())

    return dependency


def require_api_key(scope: str) -> Callable[[Request], Principal]:
    """Dependency: an API key holding this scope (users are refused)."""

    def dependency(request: Request) -> Principal:
        return authorize(request, roles=(), scopes=(scope,))

    return dependency


def require_user_or_api_key(roles: set[Role], scope: str) -> Callable[[Request], Principal]:
    """Dependency: a user with one of these roles, or an API key holding this scope."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Principal:
        return authorize(request, roles=allowed, scopes=(scope,))

    return dependency


def current_principal(request: Request) -> Principal:
    """The authenticated caller whatever its role (401 if none); the grant is not audited here.

    For routes that are already guarded by one of the ``require_*`` dependencies or by the
    router's policy, to get at the caller.
    """
    try:
        principal = authenticate(request)
    except (NotAuthenticated, CsrfRejected) as exc:
        audit_request(request, getattr(request.state, "principal", None),
                      audit.Outcome.DENIED, exc.reason)
        raise
    if principal is None:
        audit_request(request, None, audit.Outcome.DENIED, "no credentials")
        raise NotAuthenticated("authentication required")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
