"""A throwaway PostgreSQL cluster (initdb/pg_ctl), listening on 127.0.0.1 only."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.support.server import free_port


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        pytest.fail("PostgreSQL server binaries not found (the test set-up installs postgresql)")
    return Path(candidates[-1]).parent


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = _pg_bin()
        # Not under pytest's tmp folder: that one is private to root, and the server runs as
        # 'postgres' when the tests run as root.
        self.base = Path(tempfile.mkdtemp(prefix="lienthong-pg-"))
        os.chmod(self.base, 0o755)  # noqa: S103 - the postgres user must traverse it
        self.datadir = self.base / "data"
        self.socket_dir = self.base / "sock"
        self.port = free_port()
        # initdb refuses to run as root: run the server as the 'postgres' system user then.
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)

    def start(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.datadir), "-A", "trust",
                  "-U", self.user, "-E", "UTF8", "--locale=C.UTF-8")
        self.resume()

    def resume(self) -> None:
        """Start the server process (again), on the same port and data folder."""
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.socket_dir} -c fsync=on "
                f"-c synchronous_commit=on -c max_connections=100")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-o", opts, "-w",
                  "-l", str(self.base / "server.log"), "start")

    def pause(self) -> None:
        """Stop the server process but keep the cluster, so that resume() brings it back:
        for tests of an index that becomes unreachable."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", self.user, name)
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
