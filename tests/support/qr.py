"""An in-process SCP on a chosen index database, and DCMTK query/retrieve tool runners."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from lienthong.migrate import upgrade
from lienthong.settings import Settings, load_settings
from pacs.archive import Archive, open_archive
from pacs.peers import add_peer
from pacs.scp.server import DicomServer
from tests.support.dcmtk import require
from tests.support.server import free_port


@dataclass
class RunningScp:
    settings: Settings
    archive: Archive
    server: DicomServer
    port: int

    def stop(self) -> None:
        self.server.stop()
        self.archive.close()


# Module-scoped SCP fixtures run on both index backends: ``params=BACKENDS`` and
# ``start_scp(..., backend_url(request))``.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def backend_url(request: pytest.FixtureRequest) -> str | None:
    """None (the embedded SQLite default) or a new database in the test PostgreSQL cluster."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_cluster").create_database())
    return None


def start_scp(
    data_dir: Path,
    database_url: str | None = None,
    *,
    peers: Sequence[tuple[str, int]] = (("FINDSCU", 104),),
    **overrides: object,
) -> RunningScp:
    """Migrate, register `peers` (AE title, port on 127.0.0.1), start the SCP on a free port."""
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        storage={"min_free_bytes": 0},
        dicom={"port": free_port(), "workers": 1, **dict(overrides.pop("dicom", {}))},  # type: ignore[call-overload]
        **overrides,
    )
    upgrade(settings.effective_database_url)
    archive = open_archive(settings)
    with archive.sessions.begin() as session:
        for title, port in peers:
            add_peer(session, title, "127.0.0.1", port)
    server = DicomServer(settings, archive)
    _, port = server.start()
    return RunningScp(settings, archive, server, port)


@dataclass
class FindResult:
    returncode: int
    responses: list[pydicom.Dataset]
    log: str


def findscu(
    port: int,
    keys: Sequence[str],
    *,
    model: str = "-S",
    calling: str = "FINDSCU",
    extra: Sequence[str] = (),
) -> FindResult:
    """Run findscu with `-k` keys; returns the extracted response identifiers and the log."""
    with tempfile.TemporaryDirectory(prefix="findscu-") as out:
        args = [require("findscu"), "-v", model, "-aet", calling, "-aec", "LIENTHONG", "-X",
                "-od", out]
        for key in keys:
            args += ["-k", key]
        args += [*extra, "127.0.0.1", str(port)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
        responses = [pydicom.dcmread(p) for p in sorted(Path(out).glob("rsp*.dcm"))]
    return FindResult(result.returncode, responses, result.stdout + result.stderr)
