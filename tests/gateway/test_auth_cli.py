"""`lienthong users ...` and `lienthong apikeys ...` run as real subprocesses."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sqlalchemy import select

from gateway.auth.models import ApiKey, User
from gateway.auth.passwords import passwords_for
from gateway.auth.secrets import token_digest
from lienthong.db import make_engine, make_sessionmaker
from lienthong.settings import load_settings
from tests.support.server import REPO_ROOT, lienthong


def _run(data_dir: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data_dir), *args],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_users_add_list_disable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, err = _run(data, "users", "add", "dr.lan", "--role", "radiologist",
                          stdin="a long enough password\n")
    assert code == 0, err
    assert "dr.lan (radiologist) created" in out
    listed = json.loads(lienthong(data, "users", "list", "--json").stdout)
    assert [(u["username"], u["role"], u["disabled"]) for u in listed] == [
        ("dr.lan", "radiologist", False)]

    settings = load_settings(data_dir=data)
    with make_sessionmaker(make_engine(settings.effective_database_url))() as session:
        user = session.scalars(select(User)).one()
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert passwords_for(settings.auth).verify(user.password_hash, "a long enough password")
        assert "m=65536,t=3,p=4" in user.password_hash  # the default (RFC 9106) cost

    assert lienthong(data, "users", "disable", "dr.lan").returncode == 0
    assert json.loads(lienthong(data, "users", "list", "--json").stdout)[0]["disabled"] is True
    code, _, err = _run(data, "users", "disable", "nobody")
    assert code == 1 and "no such user" in err


def test_users_profile_for_reports_and_claims(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = _run(data, "users", "add", "bs.lan", "--role", "radiologist", "--no-password",
                        "--display-name", "BS. Nguyễn Thị Lan",
                        "--practice-code", "001234/HCM-CCHN")
    assert code == 0, err
    code, _, err = _run(data, "users", "profile", "bs.lan", "--practice-code", "bad code!")
    assert code != 0 and "practising-certificate code" in err
    assert _run(data, "users", "profile", "bs.lan", "--display-name", "PGS. Nguyễn Thị Lan")[0] == 0
    listed = json.loads(lienthong(data, "users", "list", "--json").stdout)
    assert [(u["display_name"], u["practice_code"]) for u in listed] == [
        ("PGS. Nguyễn Thị Lan", "001234/HCM-CCHN")]
    code, _, err = _run(data, "users", "profile", "nobody", "--display-name", "X")
    assert code == 1 and "no user" in err


def test_users_add_refuses_bad_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = _run(data, "users", "add", "x", "--role", "radiologist", stdin="short\n")
    assert code == 2 and "at least 12" in err
    code, _, err = _run(data, "users", "add", "x", "--role", "janitor", stdin="long password!!\n")
    assert code == 2 and "invalid choice" in err
    code, _, err = _run(data, "users", "add", "../x", "--role", "it", stdin="long password!!\n")
    assert code == 2 and "user name" in err
    assert _run(data, "users", "add", "x", "--role", "it", stdin="long password!!\n")[0] == 0
    code, _, err = _run(data, "users", "add", "x", "--role", "it", stdin="long password!!\n")
    assert code == 2 and "already exists" in err


def test_apikeys_add_shows_the_key_once_and_stores_a_hash(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, err = _run(data, "apikeys", "add", "his", "--scope", "orders", "--scope", "claims")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("lt_") and len(key) >= 3 + 43  # 256 bits in urlsafe base64
    secret_file = data / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    listed = json.loads(lienthong(data, "apikeys", "list", "--json").stdout)
    assert listed[0]["name"] == "his" and listed[0]["scopes"] == ["claims", "orders"]
    assert key not in json.dumps(listed)
    settings = load_settings(data_dir=data)
    with make_sessionmaker(make_engine(settings.effective_database_url))() as session:
        row = session.scalars(select(ApiKey)).one()
    assert row.key_digest == token_digest(secret_file.read_bytes().strip(), key)
    assert key not in (row.key_digest, row.key_prefix, row.scopes)

    assert lienthong(data, "apikeys", "revoke", "his").returncode == 0
    assert json.loads(lienthong(data, "apikeys", "list", "--json").stdout)[0]["revoked_at"]
    code, _, err = _run(data, "apikeys", "add", "bad", "--scope", "everything")
    assert code == 2 and "invalid choice" in err
