"""Fixtures for the gateway: a migrated temp database, the app, users and API keys."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway.app import create_app
from gateway.auth.apikeys import create_api_key
from gateway.auth.passwords import passwords_for
from gateway.auth.roles import Role, Scope
from gateway.auth.users import create_user
from lienthong.migrate import upgrade
from lienthong.settings import Settings, load_settings

PASSWORD = "correct horse battery staple"
# The argon2id floor the settings allow (OWASP minimum), so that the many logins stay quick;
# admins without a second factor (test_mfa.py tests the requirement itself).
CHEAP_HASHING = {"password_hash_memory_kib": 19456, "password_hash_time_cost": 2,
                 "require_mfa_for_admins": False}


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", storage={"min_free_bytes": 0},
                         auth=CHEAP_HASHING)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite index migrated once; each test starts from a copy (faster than
    running the migrations per test)."""
    path = tmp_path_factory.mktemp("template") / "index.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture()
def app(settings: Settings, migrated_sqlite: Path) -> Iterator[FastAPI]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_sqlite, settings.data_dir / "index.sqlite3")
    settings.objects_dir.mkdir(parents=True, exist_ok=True)
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture()
def sessions(app: FastAPI) -> sessionmaker[Session]:
    return app.state.write_sessions  # type: ignore[no-any-return]


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture()
def make_user(sessions: sessionmaker[Session], settings: Settings) -> Callable[..., str]:
    def make(name: str, role: Role, password: str = PASSWORD) -> str:
        with sessions.begin() as session:
            create_user(session, name, role, password, passwords=passwords_for(settings.auth),
                        min_length=12)
        return name

    return make


@pytest.fixture()
def make_api_key(app: FastAPI, sessions: sessionmaker[Session]) -> Callable[..., str]:
    def make(name: str, *scopes: Scope) -> str:
        with sessions.begin() as session:
            _, plaintext = create_api_key(session, app.state.secret_key, name, scopes)
        return plaintext

    return make


@pytest.fixture()
def token_for(client: TestClient, make_user: Callable[..., str]) -> Callable[[Role], str]:
    """Create a user of the role (once) and return a bearer access token for it."""

    def token(role: Role) -> str:
        name = f"u-{role.value}"
        try:
            make_user(name, role)
        except ValueError:
            pass  # already made in this test
        response = client.post("/api/auth/token", data={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return token
