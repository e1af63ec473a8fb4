"""The access dependencies: 401/403 decisions, one audit row per decision, 503 without audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth.roles import Role, Scope
from gateway.deps import (
    Principal,
    require_api_key,
    require_role,
    require_user_or_api_key,
)
from lienthong import db
from lienthong.audit import AuditEvent
from lienthong.settings import Settings

Caller = Annotated[Principal, Depends(require_user_or_api_key({Role.RADIOLOGIST}, "stow"))]


@pytest.fixture()
def guarded(app: FastAPI) -> FastAPI:
    """The real app plus three test routes, each guarded by one dependency."""
    router = APIRouter()

    @router.get("/test/role/{study_instance_uid}",
                dependencies=[Depends(require_role(Role.RADIOLOGIST))])
    def by_role(study_instance_uid: str) -> dict[str, str]:
        return {"study": study_instance_uid}

    @router.post("/test/key", dependencies=[Depends(require_api_key("orders"))])
    def by_key() -> dict[str, str]:
        return {"ok": "yes"}

    @router.get("/test/either")
    def by_either(caller: Caller) -> dict[str, object]:
        return {"name": caller.name, "kind": caller.kind, "scopes": sorted(caller.scopes)}

    app.include_router(router)
    return app


def _audit(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_anonymous_gets_401_with_www_authenticate_and_is_audited(
    guarded: FastAPI, client: TestClient, sessions: sessionmaker[Session]
) -> None:
    response = client.get("/test/role/1.2.3")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401
    [event] = _audit(sessions)
    assert (event.actor, event.outcome, event.action, event.study_instance_uid) == (
        "anonymous", "denied", "GET /test/role/{study_instance_uid}", "1.2.3")


def test_api_key_scopes(
    guarded: FastAPI, client: TestClient, make_api_key: Callable[..., str],
    sessions: sessionmaker[Session],
) -> None:
    his = make_api_key("his", Scope.ORDERS)
    modality = make_api_key("ct-gateway", Scope.STOW)
    assert client.post("/test/key", headers={"X-API-Key": his}).status_code == 200
    assert client.post("/test/key", headers={"Authorization": f"Bearer {his}"}).status_code == 200
    assert client.post("/test/key", headers={"X-API-Key": modality}).status_code == 403
    # A key is not a user: a role-only route refuses it.
    assert client.get("/test/role/1", headers={"X-API-Key": his}).status_code == 403
    either = client.get("/test/either", headers={"X-API-Key": modality})
    assert either.status_code == 200
    assert either.json() == {"name": "ct-gateway", "kind": "api_key", "scopes": ["stow"]}
    bad = client.post("/test/key", headers={"X-API-Key": his[:-2] + "xx"})
    assert bad.status_code == 401
    with sessions() as session:
        from gateway.auth.models import ApiKey

        used = {k.name: k.last_used_at for k in session.scalars(select(ApiKey))}
    assert used["his"] is not None and used["ct-gateway"] is not None
    outcomes = [(e.actor, e.actor_kind, e.outcome) for e in _audit(sessions)]
    assert outcomes == [
        ("his", "api_key", "success"), ("his", "api_key", "success"),
        ("ct-gateway", "api_key", "denied"), ("his", "api_key", "denied"),
        ("ct-gateway", "api_key", "success"), ("anonymous", "anonymous", "denied"),
    ]


def test_revoked_api_key_is_refused_on_the_next_request(
    guarded: FastAPI, client: TestClient, make_api_key: Callable[..., str],
    sessions: sessionmaker[Session],
) -> None:
    from gateway.auth.apikeys import revoke_api_key

    his = make_api_key("his", Scope.ORDERS)
    assert client.post("/test/key", headers={"X-API-Key": his}).status_code == 200
    with sessions.begin() as session:
        revoke_api_key(session, "his")
    assert client.post("/test/key", headers={"X-API-Key": his}).status_code == 401


def test_wrong_authorization_scheme_is_401(guarded: FastAPI, client: TestClient) -> None:
    response = client.get("/test/either", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert response.status_code == 401


def test_audit_failure_fails_the_request_closed(
    guarded: FastAPI, client: TestClient, make_api_key: Callable[..., str],
    sessions: sessionmaker[Session],
) -> None:
    key = make_api_key("ct-gateway", Scope.STOW)
    with sessions.begin() as session:
        session.execute(text("ALTER TABLE audit_event RENAME TO audit_event_moved"))
    response = client.get("/test/either", headers={"X-API-Key": key})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "audit" in response.json()["detail"]
    assert "ct-gateway" not in response.text  # the route did not run


def test_a_database_locked_past_the_busy_timeout_fails_the_request_closed(
    guarded: FastAPI, client: TestClient, make_api_key: Callable[..., str],
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process holds the SQLite write lock: the audit row cannot be written, so the
    request is answered 503 with Retry-After (not 500) and the route does not run."""
    key = make_api_key("ct-gateway", Scope.STOW)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.3)
    other = db.writer_engine(db.make_engine(settings.effective_database_url))
    try:
        with other.begin():
            response = client.get("/test/either", headers={"X-API-Key": key})
    finally:
        other.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "ct-gateway" not in response.text
    assert client.get("/test/either", headers={"X-API-Key": key}).status_code == 200
