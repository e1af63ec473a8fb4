"""/api/auth: bearer tokens, refresh rotation, logout, browser sessions with CSRF, throttling."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth.roles import Role
from lienthong.audit import AuditEvent
from tests.gateway.conftest import CHEAP_HASHING, PASSWORD


def _login_form(name: str, password: str = PASSWORD) -> dict[str, str]:
    return {"username": name, "password": password}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(sessions: sessionmaker[Session], action: str) -> list[tuple[str, str, str]]:
    with sessions() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        return [(r.actor, r.outcome, r.detail) for r in rows]


def test_token_then_me(client: TestClient, make_user: Callable[..., str]) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    response = client.post("/api/auth/token", data=_login_form("dr.an"))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["access_token"].startswith("ltat_") and body["refresh_token"].startswith("ltrt_")
    me = client.get("/api/auth/me", headers=_bearer(body["access_token"]))
    assert me.json() == {"name": "dr.an", "kind": "user", "role": "radiologist", "scopes": []}


def test_wrong_password_and_unknown_user_are_401_and_audited(
    client: TestClient, make_user: Callable[..., str], sessions: sessionmaker[Session]
) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    wrong = client.post("/api/auth/token", data=_login_form("dr.an", "not the password"))
    unknown = client.post("/api/auth/token", data=_login_form("nobody"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]  # no account enumeration
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert _events(sessions, "login") == [
        ("dr.an", "denied", "token: wrong user name or password"),
        ("nobody", "denied", "token: wrong user name or password"),
    ]


def test_invalid_tokens_are_401(client: TestClient) -> None:
    for value in ("ltat_forged", "garbage", "ltrt_not-an-access-token"):
        assert client.get("/api/auth/me", headers=_bearer(value)).status_code == 401
    assert client.get("/api/auth/me").status_code == 401


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(
    client: TestClient, make_user: Callable[..., str], sessions: sessionmaker[Session]
) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    first = client.post("/api/auth/token", data=_login_form("dr.an")).json()
    second = client.post("/api/auth/refresh", data={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert client.get("/api/auth/me", headers=_bearer(first["access_token"])).status_code == 401
    assert client.get("/api/auth/me", headers=_bearer(rotated["access_token"])).status_code == 200

    replay = client.post("/api/auth/refresh", data={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # The thief's replay revoked the session: the legitimate tokens stop working too.
    assert client.get("/api/auth/me", headers=_bearer(rotated["access_token"])).status_code == 401
    again = client.post("/api/auth/refresh", data={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    assert [o for _, o, _ in _events(sessions, "refresh")] == ["success", "denied", "denied"]


def test_logout_revokes_the_access_token(
    client: TestClient, make_user: Callable[..., str]
) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    tokens = client.post("/api/auth/token", data=_login_form("dr.an")).json()
    assert client.post("/api/auth/logout", headers=_bearer(tokens["access_token"])).status_code \
        == 204
    assert client.get("/api/auth/me", headers=_bearer(tokens["access_token"])).status_code == 401
    refreshed = client.post("/api/auth/refresh", data={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert client.post("/api/auth/logout").status_code == 401


def test_browser_cookie_is_httponly_samesite_strict(
    client: TestClient, make_user: Callable[..., str]
) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    response = client.post("/api/auth/login", data=_login_form("dr.an"))
    assert response.status_code == 200
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    assert "httponly" in cookies["lienthong_session"]
    assert "samesite=strict" in cookies["lienthong_session"]
    assert "secure" not in cookies["lienthong_session"]  # plain http (loopback test)
    assert "httponly" not in cookies["lienthong_csrf"]  # the page's script reads it
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["name"] == "dr.an"


def test_cookie_is_secure_over_https(app: FastAPI, make_user: Callable[..., str]) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    with TestClient(app, base_url="https://testserver") as https:
        response = https.post("/api/auth/login", data=_login_form("dr.an"))
    session_cookie = next(c for c in response.headers.get_list("set-cookie")
                          if c.startswith("lienthong_session="))
    assert "secure" in session_cookie.lower()


def test_cross_site_post_without_csrf_token_is_403(
    client: TestClient, make_user: Callable[..., str], sessions: sessionmaker[Session]
) -> None:
    make_user("root", Role.ADMIN)
    login = client.post("/api/auth/login", data=_login_form("root")).json()
    new_user = {"username": "mallory", "role": "admin", "password": "x" * 6 + "yz12345678"}
    # What a form on another site can make the browser send: the cookie, no CSRF header.
    forged = client.post("/api/admin/users", json=new_user,
                         headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    wrong = client.post("/api/admin/users", json=new_user,
                        headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    listed = client.get("/api/admin/users").json()
    assert [u["username"] for u in listed] == ["root"]
    ok = client.post("/api/admin/users", json=new_user,
                     headers={"X-CSRF-Token": login["csrf_token"]})
    assert ok.status_code == 201
    # Logging out is a state change too.
    assert client.post("/api/auth/logout").status_code == 403
    assert client.post("/api/auth/logout",
                       headers={"X-CSRF-Token": login["csrf_token"]}).status_code == 204
    assert client.get("/api/admin/users").status_code == 401
    with sessions() as session:
        denied = session.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "POST /api/admin/users", AuditEvent.outcome == "denied")).all()
    assert len(denied) == 2 and all("CSRF" in d for d in denied)


def test_account_throttled_after_ten_failures_even_with_right_password(
    client: TestClient, make_user: Callable[..., str], sessions: sessionmaker[Session]
) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    for _ in range(10):
        assert client.post("/api/auth/token",
                           data=_login_form("dr.an", "guess guess guess")).status_code == 401
    throttled = client.post("/api/auth/token", data=_login_form("dr.an"))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert client.post("/api/auth/login", data=_login_form("dr.an")).status_code == 429
    events = _events(sessions, "login")
    assert len(events) == 12
    assert [o for _, o, _ in events] == ["denied"] * 12
    assert events[-1][2] == "browser: throttled"


def test_address_throttled_across_accounts(
    client: TestClient, make_user: Callable[..., str]
) -> None:
    make_user("dr.binh", Role.RADIOLOGIST)
    for i in range(10):
        assert client.post("/api/auth/token", data=_login_form(f"spray{i}")).status_code == 401
    assert client.post("/api/auth/token", data=_login_form("dr.binh")).status_code == 429


def test_admin_user_api(
    client: TestClient, token_for: Callable[[Role], str]
) -> None:
    admin = _bearer(token_for(Role.ADMIN))
    created = client.post("/api/admin/users", headers=admin, json={
        "username": "ktv.hoa", "role": "it", "password": "mật khẩu đủ dài"})
    assert created.status_code == 201 and created.json()["role"] == "it"
    duplicate = client.post("/api/admin/users", headers=admin, json={
        "username": "ktv.hoa", "role": "it", "password": "mật khẩu đủ dài"})
    assert duplicate.status_code == 409
    weak = client.post("/api/admin/users", headers=admin, json={
        "username": "x", "role": "it", "password": "123"})
    assert weak.status_code == 422
    bad_role = client.post("/api/admin/users", headers=admin, json={
        "username": "y", "role": "superuser", "password": "long enough password"})
    assert bad_role.status_code == 422

    hoa = client.post("/api/auth/token", data=_login_form("ktv.hoa", "mật khẩu đủ dài")).json()
    assert client.get("/api/auth/me", headers=_bearer(hoa["access_token"])).status_code == 200
    assert client.get("/api/admin/users", headers=_bearer(hoa["access_token"])).status_code \
        == 403
    assert client.post("/api/admin/users/ktv.hoa/disable", headers=admin).status_code == 204
    assert client.get("/api/auth/me", headers=_bearer(hoa["access_token"])).status_code == 401
    assert client.post("/api/auth/token",
                       data=_login_form("ktv.hoa", "mật khẩu đủ dài")).status_code == 401
    assert client.post("/api/admin/users/nobody/disable", headers=admin).status_code == 404
    names = {u["username"]: u["disabled"] for u in
             client.get("/api/admin/users", headers=admin).json()}
    assert names == {"u-admin": False, "ktv.hoa": True}


def test_hostile_user_names_are_refused_counted_and_audited_on_every_database(
    database_url: str, tmp_path: object
) -> None:
    """A NUL or control character in a login name must not crash the audit (PostgreSQL text
    cannot hold NUL) nor escape it: the attempt is refused, audited and throttled."""
    from pathlib import Path

    from gateway.app import create_app
    from lienthong.settings import load_settings

    assert isinstance(tmp_path, Path)
    app = create_app(load_settings(data_dir=tmp_path / "d", database_url=database_url,
                                   auth=CHEAP_HASHING))
    try:
        with TestClient(app) as client:
            for name in ("admin\x00", "a\x1b[31mred", "' OR 1=1 --", "x" * 500):
                response = client.post("/api/auth/token", data=_login_form(name))
                assert response.status_code == 401, response.text
            with app.state.sessions() as session:
                actors = session.scalars(select(AuditEvent.actor).order_by(AuditEvent.seq)).all()
    finally:
        app.state.engine.dispose()
    assert actors == ["admin\ufffd", "a\ufffd[31mred", "' OR 1=1 --", "x" * 64]
