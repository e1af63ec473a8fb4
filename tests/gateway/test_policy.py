"""The route inventory: every route of the app has an access rule and enforces it.

The routes are read from a real ``create_app(...)``, so a route added anywhere without a rule,
or mounted outside ``gateway.routers`` (so without the policy dependency), fails this suite.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Route, compile_path

from gateway.app import create_app
from gateway.auth.policy import Rule, enforce_policy, rule_for
from gateway.auth.roles import Role, Scope
from lienthong.audit import AuditEvent
from lienthong.settings import load_settings

# Built at import because the routes parametrise the tests below; nothing is written to its
# database, only the secret key file, removed at exit.
_INVENTORY_DIR = Path(tempfile.mkdtemp(prefix="lienthong-routes-"))
atexit.register(shutil.rmtree, _INVENTORY_DIR, True)
INVENTORY_APP = create_app(load_settings(data_dir=_INVENTORY_DIR))


def route_methods(app: FastAPI) -> Iterator[tuple[RouteContext, str, str]]:
    """Every (route, method, path template) the app serves, included routers flattened."""
    for context in iter_route_contexts(app.routes):
        for method in sorted(context.methods or ()):
            yield context, method, str(context.path)


def problems(app: FastAPI) -> list[str]:
    """Routes without a rule, API routes not guarded by the policy dependency, and routes whose
    template differs from the one the policy sees at request time (an include-time prefix)."""
    found = [f"{c.path}: a mount or route without methods is not covered by the policy"
             for c in iter_route_contexts(app.routes) if not c.methods]
    for context, method, path in route_methods(app):
        if rule_for(method, path) is None:
            found.append(f"{method} {path}: no access rule")
        if isinstance(context.original_route, APIRoute):
            if not any(d.dependency is enforce_policy for d in context.dependencies):
                found.append(f"{method} {path}: not mounted through gateway.routers")
            if context.original_route.path != path:
                found.append(f"{method} {path}: included with a prefix; put it on the router")
        elif not isinstance(context.original_route, Route):
            found.append(f"{method} {path}: a mount or unknown route kind")
    return found


ROUTES = [(m, p) for _, m, p in route_methods(INVENTORY_APP) if m != "HEAD"]
GUARDED = [(m, p, rule) for m, p in ROUTES
           if (rule := rule_for(m, p)) is not None and not rule.anonymous]
ANONYMOUS = {(m, p) for m, p in ROUTES} - {(m, p) for m, p, _ in GUARDED}


def concrete(path: str) -> str:
    """A request path for a route template (UID-like values for every parameter)."""
    return re.sub(r"\{[^}]+\}", "1.2.840.10008.999", path)


def test_every_route_has_a_rule_and_the_policy_dependency() -> None:
    assert ROUTES, "no routes found"
    assert problems(INVENTORY_APP) == []


def test_no_two_routes_match_the_same_request() -> None:
    # gateway.routers orders the routers for speed; that is safe only while no request could
    # be taken by two routes (then the order would also pick which access rule applies).
    patterns = [(m, p, compile_path(p)[0]) for m, p in ROUTES]
    overlaps = [(m, p, other) for m, p, _ in patterns for n, other, pattern in patterns
                if n == m and other != p and pattern.match(concrete(p))]
    assert len(patterns) > 40
    assert overlaps == []


def test_the_inventory_check_catches_a_route_without_a_rule(app: FastAPI) -> None:
    stray = APIRouter()

    @stray.get("/api/patients/{patient_id}")
    def leak(patient_id: str) -> dict[str, str]:
        return {"patient": patient_id}

    app.include_router(stray)
    assert problems(app) == [
        "GET /api/patients/{patient_id}: no access rule",
        "GET /api/patients/{patient_id}: not mounted through gateway.routers",
    ]


def test_anonymous_routes_are_only_health_auth_and_docs() -> None:
    allowed = re.compile(
        r"^(/healthz|/api/auth/.+|/docs.*|/redoc|/openapi\.json|/viewer|/viewer/\{file_path:path\})$"
    )
    assert sorted(p for _, p in ANONYMOUS if not allowed.match(p)) == []


@pytest.mark.parametrize(("method", "path", "rule"), GUARDED,
                         ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_without_credentials_is_401_and_audited(
    client: TestClient, sessions: sessionmaker[Session], method: str, path: str, rule: Rule
) -> None:
    response = client.request(method, concrete(path))
    assert response.status_code == 401
    assert "www-authenticate" in response.headers
    with sessions() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last is not None
    assert (last.action, last.outcome, last.actor) == (f"{method} {path}", "denied", "anonymous")


WRONG_ROLES = [(m, p, role) for m, p, rule in GUARDED for role in Role if role not in rule.roles]


@pytest.mark.parametrize(("method", "path", "role"), WRONG_ROLES,
                         ids=[f"{m} {p} as {r.value}" for m, p, r in WRONG_ROLES])
def test_wrong_role_is_403(
    client: TestClient, token_for: Callable[[Role], str], method: str, path: str, role: Role
) -> None:
    response = client.request(method, concrete(path),
                              headers={"Authorization": f"Bearer {token_for(role)}"})
    assert response.status_code == 403


WRONG_SCOPES = [(m, p, scope) for m, p, rule in GUARDED for scope in Scope
                if scope not in rule.scopes]


@pytest.mark.parametrize(("method", "path", "scope"), WRONG_SCOPES,
                         ids=[f"{m} {p} with {s.value}" for m, p, s in WRONG_SCOPES])
def test_api_key_with_the_wrong_scope_is_403(
    client: TestClient, make_api_key: Callable[..., str], method: str, path: str, scope: Scope
) -> None:
    key = make_api_key(f"key-{scope.value}", scope)
    assert client.request(method, concrete(path), headers={"X-API-Key": key}).status_code == 403


RIGHT_ROLES = [(m, p, role) for m, p, rule in GUARDED for role in sorted(rule.roles)]


@pytest.mark.parametrize(("method", "path", "role"), RIGHT_ROLES,
                         ids=[f"{m} {p} as {r.value}" for m, p, r in RIGHT_ROLES])
def test_allowed_role_passes_the_policy(
    client: TestClient, token_for: Callable[[Role], str], method: str, path: str, role: Role
) -> None:
    response = client.request(method, concrete(path),
                              headers={"Authorization": f"Bearer {token_for(role)}"})
    assert response.status_code not in (401, 403), response.text


def test_route_role_matrix_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a check: prints the matrix for the report (pytest -s shows it)."""
    header = "method path".ljust(48) + " " + " ".join(r.value[:8].ljust(8) for r in Role)
    lines = [header]
    for m, p, rule in GUARDED:
        cells = " ".join(("yes" if r in rule.roles else "-").ljust(8) for r in Role)
        scopes = ",".join(sorted(rule.scopes)) or "-"
        lines.append(f"{m} {p}".ljust(48) + " " + cells + " keys:" + scopes)
    for m, p in sorted(ANONYMOUS, key=lambda x: x[1]):
        lines.append(f"{m} {p}".ljust(48) + " anonymous")
    print("\n".join(lines))
    assert len(lines) == 1 + len(GUARDED) + len(ANONYMOUS)
