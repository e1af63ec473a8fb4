"""schemathesis against the app's own OpenAPI schema: no request makes it answer 5xx.

Bounded (few examples per operation) so that the suite stays fast; runs as an admin, whom the
policy lets through to every admin and operations route.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from gateway.app import create_app
from gateway.auth.passwords import passwords_for
from gateway.auth.roles import Role
from gateway.auth.users import create_user
from lienthong.migrate import upgrade
from lienthong.settings import load_settings
from tests.gateway.conftest import CHEAP_HASHING

PASSWORD = "fuzzing admin password"


def _fuzz_app() -> FastAPI:
    # Built at import: schemathesis parametrises from a schema object, and its fixture-based
    # loader does not work with the pytest version we run.
    base = Path(tempfile.mkdtemp(prefix="lienthong-fuzz-"))
    atexit.register(shutil.rmtree, base, True)  # also when this module is collected, not run
    data = base / "data"
    app_settings = load_settings(data_dir=data, storage={"min_free_bytes": 0},
                                 auth=CHEAP_HASHING)
    upgrade(app_settings.effective_database_url)
    app_settings.objects_dir.mkdir(parents=True)
    app = create_app(app_settings)
    with app.state.write_sessions.begin() as session:
        create_user(session, "fuzz-admin", Role.ADMIN, PASSWORD,
                    passwords=passwords_for(app_settings.auth), min_length=12)
    return app


FUZZ_APP = _fuzz_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", FUZZ_APP)


@pytest.fixture(scope="module")
def admin_headers() -> Iterator[dict[str, str]]:
    with TestClient(FUZZ_APP) as client:
        response = client.post("/api/auth/token",
                               data={"username": "fuzz-admin", "password": PASSWORD})
        yield {"Authorization": f"Bearer {response.json()['access_token']}"}


@schema.parametrize()
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_no_server_errors(case: schemathesis.Case, admin_headers: dict[str, str]) -> None:
    headers = dict(admin_headers)
    # Fuzzing logout would end the admin session the other cases need.
    if case.path == "/api/auth/logout":
        headers = {}
    response = case.call(headers=headers)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code}"
