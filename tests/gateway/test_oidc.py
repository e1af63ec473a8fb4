"""OIDC login (authorization code + PKCE) against a stand-in provider served on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.app import create_app
from gateway.auth.passwords import passwords_for
from gateway.auth.roles import Role
from gateway.auth.users import create_user, disable_user
from lienthong.audit import AuditEvent
from lienthong.settings import Settings, load_settings
from tests.gateway.conftest import CHEAP_HASHING
from tests.support.oidc_idp import StandInIdP

BASE = "http://127.0.0.1"
CALLBACK = f"{BASE}/api/auth/oidc/callback"


@pytest.fixture()
def idp() -> Iterator[StandInIdP]:
    with StandInIdP(client_id="lienthong-pacs", redirect_uri=CALLBACK) as provider:
        yield provider


@pytest.fixture()
def settings(tmp_path: Path, idp: StandInIdP) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data", storage={"min_free_bytes": 0},
        auth={**CHEAP_HASHING, "oidc": {"enabled": True, "issuer": idp.issuer,
                                        "client_id": "lienthong-pacs", "redirect_uri": CALLBACK}},
    )


@pytest.fixture()
def oidc_client(app: FastAPI, sessions: sessionmaker[Session], settings: Settings
                ) -> Iterator[TestClient]:
    with sessions.begin() as session:
        create_user(session, "dr.an", Role.RADIOLOGIST, None,
                    passwords=passwords_for(settings.auth), min_length=12)
    with TestClient(app, base_url=BASE) as client:
        yield client


def _to_provider(client: TestClient) -> str:
    start = client.get("/api/auth/oidc/login", follow_redirects=False)
    assert start.status_code == 302
    return start.headers["location"]


def _provider_redirect(location: str) -> str:
    """The browser at the provider: real HTTP; the provider redirects back with a code."""
    answer = httpx.get(location, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def _callback(client: TestClient, back: str) -> httpx.Response:
    url = urlparse(back)
    return client.get(f"{url.path}?{url.query}")


def _login_details(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "login").order_by(AuditEvent.seq)))


def test_code_flow_with_pkce_opens_a_browser_session(
    oidc_client: TestClient, idp: StandInIdP, sessions: sessionmaker[Session]
) -> None:
    location = _to_provider(oidc_client)
    query = parse_qs(urlparse(location).query)
    assert location.startswith(f"{idp.issuer}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [CALLBACK] and query["nonce"] and query["state"]
    done = _callback(oidc_client, _provider_redirect(location))
    assert done.status_code == 200, done.text
    me = oidc_client.get("/api/auth/me")
    assert me.json() == {"name": "dr.an", "kind": "user", "role": "radiologist", "scopes": []}
    assert _login_details(sessions) == ["oidc: ok"]


def test_wrong_state_and_missing_transaction_are_refused(
    oidc_client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    back = _provider_redirect(_to_provider(oidc_client))
    forged = back.replace("state=", "state=x")
    assert _callback(oidc_client, forged).status_code == 401
    # Login CSRF: a callback URL opened in another browser (no transaction cookie).
    with TestClient(app, base_url=BASE) as victim:
        assert _callback(victim, back).status_code == 401
        assert victim.get("/api/auth/me").status_code == 401
    assert _login_details(sessions) == ["oidc: state mismatch",
                                        "oidc: no login transaction; start again"]


def test_a_code_works_once(oidc_client: TestClient, sessions: sessionmaker[Session]) -> None:
    location = _to_provider(oidc_client)
    transaction = oidc_client.cookies.get("lienthong_oidc")
    assert transaction
    back = _provider_redirect(location)
    assert _callback(oidc_client, back).status_code == 200
    # Our side already forgot the transaction...
    assert _callback(oidc_client, back).status_code == 401
    # ...and with a copy of it, the provider refuses the used code.
    oidc_client.cookies.set("lienthong_oidc", transaction, path="/api/auth/oidc")
    assert _callback(oidc_client, back).status_code == 401
    assert _login_details(sessions)[-2:] == ["oidc: no login transaction; start again",
                                             "oidc: the identity provider refused the code"]


@pytest.mark.parametrize(("override", "reason"), [
    ({"aud": "some-other-client"}, "InvalidAudienceError"),
    ({"iss": "https://evil.example"}, "InvalidIssuerError"),
    ({"exp": int(time.time()) - 60}, "ExpiredSignatureError"),
    ({"nonce": "replayed"}, "nonce mismatch"),
])
def test_bad_id_tokens_are_refused(
    oidc_client: TestClient, idp: StandInIdP, sessions: sessionmaker[Session],
    override: dict[str, object], reason: str,
) -> None:
    idp.claim_overrides = override
    response = _callback(oidc_client, _provider_redirect(_to_provider(oidc_client)))
    assert response.status_code == 401
    assert oidc_client.get("/api/auth/me").status_code == 401
    assert reason in _login_details(sessions)[-1]


def test_identity_without_an_active_local_account_is_403(
    oidc_client: TestClient, idp: StandInIdP, sessions: sessionmaker[Session]
) -> None:
    idp.login_as = "stranger"
    assert _callback(oidc_client, _provider_redirect(_to_provider(oidc_client))).status_code \
        == 403
    idp.login_as = "dr.an"
    with sessions.begin() as session:
        disable_user(session, "dr.an")
    assert _callback(oidc_client, _provider_redirect(_to_provider(oidc_client))).status_code \
        == 403


def test_provider_error_is_401(oidc_client: TestClient) -> None:
    _to_provider(oidc_client)
    response = oidc_client.get("/api/auth/oidc/callback", params={"error": "access_denied"})
    assert response.status_code == 401


def test_disabled_oidc_is_404(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path / "d"))
    with TestClient(app) as client:
        assert client.get("/api/auth/oidc/login").status_code == 404
    app.state.engine.dispose()


def test_plain_http_provider_is_refused_in_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="https"):
        load_settings(data_dir=tmp_path, auth={"oidc": {"issuer": "http://idp.example"}})


