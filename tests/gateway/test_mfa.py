"""TOTP second factor: required for admins, one use per code, throttled, stored encrypted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth.mfa import enroll
from gateway.auth.roles import Role
from gateway.auth.users import find_user
from lienthong.audit import AuditEvent
from lienthong.settings import Settings, load_settings
from tests.gateway.conftest import CHEAP_HASHING, PASSWORD
from tests.support.server import REPO_ROOT


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", storage={"min_free_bytes": 0},
                         auth={**CHEAP_HASHING, "require_mfa_for_admins": True})


def _enroll(app: FastAPI, sessions: sessionmaker[Session], name: str) -> pyotp.TOTP:
    with sessions.begin() as session:
        user = find_user(session, name)
        assert user is not None
        uri = enroll(user, app.state.secret_key)
        stored = user.totp_secret
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    assert stored is not None and totp.secret not in stored  # encrypted at rest
    return totp


def _token(client: TestClient, name: str, otp: str | None = None) -> int:
    form = {"username": name, "password": PASSWORD}
    if otp is not None:
        form["otp"] = otp
    return client.post("/api/auth/token", data=form).status_code


def _details(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "login").order_by(AuditEvent.seq)))


def test_admin_needs_an_enrolled_second_factor(
    app: FastAPI, client: TestClient, make_user: Callable[..., str],
    sessions: sessionmaker[Session],
) -> None:
    make_user("root", Role.ADMIN)
    make_user("dr.an", Role.RADIOLOGIST)
    assert _token(client, "root") == 401
    assert _token(client, "dr.an") == 200  # not required for other roles by default
    totp = _enroll(app, sessions, "root")
    assert _token(client, "root") == 401  # code missing
    assert _token(client, "root", "000000" if totp.now() != "000000" else "111111") == 401
    code = totp.now()
    assert _token(client, "root", code) == 200
    assert _token(client, "root", code) == 401  # a code works once
    assert _details(sessions) == [
        "token: admin without an enrolled second factor (lienthong users mfa NAME)",
        "token: ok",
        "token: wrong or missing one-time code",
        "token: wrong or missing one-time code",
        "token: ok",
        "token: wrong or missing one-time code",
    ]


def test_enrolled_user_of_any_role_needs_the_code_in_the_browser_too(
    app: FastAPI, client: TestClient, make_user: Callable[..., str],
    sessions: sessionmaker[Session],
) -> None:
    make_user("dr.an", Role.RADIOLOGIST)
    totp = _enroll(app, sessions, "dr.an")
    form = {"username": "dr.an", "password": PASSWORD}
    assert client.post("/api/auth/login", data=form).status_code == 401
    assert client.post("/api/auth/login", data={**form, "otp": totp.now()}).status_code == 200


def test_wrong_codes_are_throttled(
    app: FastAPI, client: TestClient, make_user: Callable[..., str],
    sessions: sessionmaker[Session],
) -> None:
    make_user("root", Role.ADMIN)
    totp = _enroll(app, sessions, "root")
    for guess in range(10):
        assert _token(client, "root", f"{guess:06d}" if f"{guess:06d}" != totp.now()
                      else "999999") == 401
    assert _token(client, "root", totp.now()) == 429


def test_cli_enrols_a_second_factor(tmp_path: Path) -> None:
    data = tmp_path / "data"

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data), *args],
            input=stdin, capture_output=True, text=True, cwd=REPO_ROOT, check=False,
            timeout=120)

    assert run("users", "add", "root", "--role", "admin", stdin=PASSWORD + "\n").returncode == 0
    enrolled = run("users", "mfa", "root")
    assert enrolled.returncode == 0, enrolled.stderr
    totp = pyotp.parse_uri(enrolled.stdout.strip())
    assert enrolled.stdout.startswith("otpauth://totp/Lienthong:root?")
    assert len(totp.now()) == 6
    missing = run("users", "mfa", "nobody")
    assert missing.returncode == 1 and "no such user" in missing.stderr
