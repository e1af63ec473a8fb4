"""End to end: a real `lienthong serve` process, a user made with the CLI, real HTTP."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import REPO_ROOT, LienthongServer, lienthong

CHEAP = {"LIENTHONG_AUTH__PASSWORD_HASH_MEMORY_KIB": "19456",
         "LIENTHONG_AUTH__PASSWORD_HASH_TIME_COST": "2", "LIENTHONG_LOG_FORMAT": "json",
         "LIENTHONG_DICOM__ALLOW_ANY_CALLING_AE": "true",
         "LIENTHONG_AUTH__REQUIRE_MFA_FOR_ADMINS": "false"}


def test_cli_user_logs_in_to_a_running_server_and_is_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = LienthongServer(data, workers=1, env=CHEAP).start()
    try:
        assert stat.S_IMODE((data / "secret_key").stat().st_mode) == 0o600
        subprocess.run(
            [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data), "users", "add",
             "root", "--role", "admin"],
            input="a long admin password\n", text=True, check=True, cwd=REPO_ROOT,
            capture_output=True, env={**CHEAP, "PATH": "/usr/bin:/bin"},
        )
        base = f"http://127.0.0.1:{server.http_port}"
        assert httpx.get(f"{base}/api/admin/users").status_code == 401
        token = httpx.post(f"{base}/api/auth/token",
                           data={"username": "root", "password": "a long admin password"})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        users = httpx.get(f"{base}/api/admin/users", headers=headers)
        assert [u["username"] for u in users.json()] == ["root"]
        wrong = httpx.post(f"{base}/api/auth/token",
                           data={"username": "root", "password": "wrong password!"})
        assert wrong.status_code == 401
    finally:
        assert server.stop() == 0
    verify = lienthong(data, "audit", "verify")
    assert "audit chain OK: 4 rows" in verify.stdout  # 401, login, grant, failed login
    log_lines = [json.loads(line) for line in server.read_log().splitlines()
                 if line.startswith("{")]
    assert log_lines and all({"time", "level", "message"} <= set(e) for e in log_lines)
