"""A real HTTP server (uvicorn running create_app on 127.0.0.1) with real files ingested, and a
dicomweb-client pointed at it."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import uvicorn
from dicomweb_client.api import DICOMwebClient
from fastapi import FastAPI
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import generate_uid
from sqlalchemy import select

from gateway.app import create_app
from gateway.auth.models import User
from gateway.auth.passwords import passwords_for
from gateway.auth.roles import Role
from gateway.auth.users import create_user
from lienthong.migrate import upgrade
from lienthong.settings import Settings, load_settings
from pacs.archive import Archive
from tests.support.server import free_port

# Files of the shared corpus every DICOMweb test can rely on (paths relative to the corpus).
CORPUS = (
    "transfer_syntaxes/mr_explicit_vr_le.dcm",
    "transfer_syntaxes/mr_j2k_lossless.dcm",
    "transfer_syntaxes/mr_rle_lossless.dcm",
    "transfer_syntaxes/us_jpeg_baseline_fragmented_no_bot.dcm",
    "modalities/dx_chest_canine_fuji.dcm",
    "modalities/us_palette_color_philips.dcm",
    "series/ct_head_ge_tilt/01.dcm",
    "series/ct_head_ge_tilt/02.dcm",
    "series/ct_head_ge_tilt/03.dcm",
)

XSS = "<script>alert(1)</script>"
PASSWORD = "correct horse battery staple"
VIETNAMESE_NAMES = ("Lương^Thị Đào", "Lương^Văn Minh", "Nguyễn^Văn An")


@dataclass
class Gateway:
    """A running server, its archive, and what was loaded into it."""

    url: str
    settings: Settings
    archive: Archive
    app: FastAPI
    datasets: dict[str, Dataset] = field(default_factory=dict)  # corpus path → dataset header
    http: requests.Session = field(default_factory=requests.Session)  # as a radiologist

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicomweb"

    def token(self, username: str, role: Role) -> str:
        """Create the user if needed and log in through POST /api/auth/token."""
        with self.app.state.write_sessions.begin() as session:
            if session.scalar(select(User.id).where(User.username == username)) is None:
                create_user(session, username, role, PASSWORD,
                            passwords=passwords_for(self.settings.auth), min_length=12)
        response = requests.post(
            f"{self.url}/api/auth/token",
            data={"username": username, "password": PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def client(self, token: str | None = None) -> DICOMwebClient:
        """dicomweb-client as the radiologist, or with the given bearer token."""
        bearer = token or self.http.headers["Authorization"].split(" ", 1)[1]
        return DICOMwebClient(url=self.dicomweb_url, headers={"Authorization": f"Bearer {bearer}"})


def part10_to_ingest(archive: Archive, raw: bytes) -> None:
    """Ingest a Part 10 file through the archive (the C-STORE/STOW path), skipping its meta."""
    ds = dcmread(io.BytesIO(raw), stop_before_pixels=True)
    fp = io.BytesIO(raw)
    read_preamble(fp, force=False)
    _read_file_meta_info(fp)
    archive.ingest(
        raw[fp.tell() :],
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        sop_class_uid=str(ds.SOPClassUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
    )


def variant(raw: bytes, **attributes: str) -> bytes:
    """A copy of a Part 10 file as a new study/series/instance with attributes replaced."""
    ds = dcmread(io.BytesIO(raw))
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


@contextlib.contextmanager
def serve_gateway(
    shared_dicom: Path, data_dir: Path, database_url: str | None = None
) -> Iterator[Gateway]:
    """Load the corpus and the generated studies, then serve create_app on 127.0.0.1."""
    settings = load_settings(
        data_dir=data_dir, database_url=database_url, storage={"min_free_bytes": 0}
    )
    data_dir.mkdir(parents=True)
    upgrade(settings.effective_database_url)
    app = create_app(settings)
    archive: Archive = app.state.archive
    loaded = Gateway("", settings, archive, app)
    for rel in CORPUS:
        raw = (shared_dicom / rel).read_bytes()
        part10_to_ingest(archive, raw)
        loaded.datasets[rel] = dcmread(io.BytesIO(raw), stop_before_pixels=True)
    mr = (shared_dicom / "transfer_syntaxes/mr_explicit_vr_le.dcm").read_bytes()
    extra = {"xss": variant(mr, PatientName=XSS, StudyDescription=XSS, PatientID="XSS1")}
    for i, name in enumerate(VIETNAMESE_NAMES):
        extra[name] = variant(
            mr, PatientName=name, PatientID=f"VN{i}", SpecificCharacterSet="ISO_IR 192"
        )
    for key, raw in extra.items():
        part10_to_ingest(archive, raw)
        loaded.datasets[key] = dcmread(io.BytesIO(raw), stop_before_pixels=True)

    port = free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test HTTP server did not start")
        time.sleep(0.05)
    loaded.url = f"http://127.0.0.1:{port}"
    loaded.http.headers["Authorization"] = (
        f"Bearer {loaded.token('radiologist1', Role.RADIOLOGIST)}"
    )
    try:
        yield loaded
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="package")
def gateway(shared_dicom: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway on SQLite (the embedded default)."""
    with serve_gateway(shared_dicom, tmp_path_factory.mktemp("dicomweb") / "data") as served:
        yield served
