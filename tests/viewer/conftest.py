"""A real `lienthong serve` with the shared head CT, users of three roles, and Debian's
Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lienthong.clock import hospital_time
from tests.support.archive import database_url
from tests.support.dcmtk import storescu
from tests.support.server import REPO_ROOT, LienthongServer, lienthong
from tests.support.synthetic import UID_ROOT, phantom_ct_series

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
PASSWORD = "correct horse battery staple"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "viewer"
VIEWER_DIST = REPO_ROOT / "viewer" / "dist"


@dataclass
class Site:
    url: str
    study_uid: str
    ct_files: list[Path]
    server: LienthongServer
    received_at: dt.datetime
    """When the server indexed the head CT (UTC): the browser's clock is pinned to it, so that
    "today" is one hospital day for the server's rows and the worklist's default filter even
    when the suite runs across midnight in Vietnam (17:00 UTC)."""

    @property
    def hospital_day(self) -> dt.date:
        return hospital_time(self.received_at).date()


def _received_at(data_dir: Path, study_uid: str) -> dt.datetime:
    from sqlalchemy import select

    from lienthong.db import make_engine, make_sessionmaker
    from pacs.index.models import Study

    engine = make_engine(database_url(data_dir))
    try:
        with make_sessionmaker(engine)() as session:
            created = session.scalars(
                select(Study.created_at).where(Study.study_instance_uid == study_uid)).one()
    finally:
        engine.dispose()
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)


def _add_user(data_dir: Path, name: str, role: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data_dir), "users", "add",
         name, "--role", role],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True, cwd=REPO_ROOT,
        timeout=120,
    )


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, shared_dicom: Path) -> Iterator[Site]:
    if not (VIEWER_DIST / "index.html").is_file():
        pytest.fail("the viewer is not built: run `npm ci && npm run build` in viewer/ "
                    "(scripts/setup.sh does)")
    data_dir = tmp_path_factory.mktemp("viewer") / "data"
    lienthong(data_dir, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104")
    for name, role in (("bs.lan", "radiologist"), ("ketoan", "claims_clerk")):
        _add_user(data_dir, name, role)
    server = LienthongServer(data_dir, workers=1).start()
    try:
        files = sorted((shared_dicom / "series" / "ct_head_ge_tilt").glob("*.dcm"))
        sent = storescu(server.dicom_port, files)
        assert sent.returncode == 0, sent.stderr
        import pydicom

        study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
        yield Site(f"http://127.0.0.1:{server.http_port}", study_uid, files, server,
                   _received_at(data_dir, study_uid))
    finally:
        server.stop()


@dataclass
class ReadingSite:
    """A second patient on the same server: today's phantom CT (a 2 mm and a 4 mm series in
    one frame of reference) and a prior study of the same patient."""

    url: str
    patient_id: str
    study_uid: str
    thin_series: str
    thick_series: str
    prior_study_uid: str
    prior_date: str
    accession: str
    today: dt.date
    """The current study's date: the hospital day the browser's pinned clock shows."""


THIN = {"slices": 32, "spacing": 2.0}  # 32 x 2 mm: the sagittal reformat is 128 x 64 mm
THICK = {"slices": 16, "spacing": 4.0}
PRIOR_DATE = "20250603"


@pytest.fixture(scope="session")
def reading_site(site: Site, tmp_path_factory: pytest.TempPathFactory) -> ReadingSite:
    from pydicom.uid import generate_uid

    folder = tmp_path_factory.mktemp("phantom")
    patient_id = "LT-PHANTOM-01"
    study_uid, prior_uid = generate_uid(UID_ROOT), generate_uid(UID_ROOT)
    frame = generate_uid(UID_ROOT)
    today = site.hospital_day.strftime("%Y%m%d")
    accession = _order_from_the_his(site, patient_id)
    thin, thin_files = phantom_ct_series(
        folder / "thin", patient_id=patient_id, study_uid=study_uid, frame_of_reference_uid=frame,
        study_date=today, series_number=1, accession=accession, **THIN)
    thick, thick_files = phantom_ct_series(
        folder / "thick", patient_id=patient_id, study_uid=study_uid,
        frame_of_reference_uid=frame, study_date=today, series_number=2, accession=accession,
        **THICK)
    _, prior_files = phantom_ct_series(
        folder / "prior", patient_id=patient_id, study_uid=prior_uid,
        frame_of_reference_uid=generate_uid(UID_ROOT), study_date=PRIOR_DATE, series_number=1,
        **THICK)
    sent = storescu(site.server.dicom_port, [*thin_files, *thick_files, *prior_files])
    assert sent.returncode == 0, sent.stderr
    return ReadingSite(site.url, patient_id, study_uid, thin, thick, prior_uid, PRIOR_DATE,
                       accession, site.hospital_day)


ORDER_PROCEDURE = "Chụp CT sọ não không tiêm thuốc"
CLAIM_LINK = "LK2026120300099"


def _order_from_the_his(site: Site, patient_id: str) -> str:
    """An imaging order placed through ``/api/orders`` with an API key, as the HIS does; the
    images sent with its accession number link the study to it."""
    import httpx

    key = lienthong(site.server.data_dir, "apikeys", "add", "his", "--scope", "orders")
    key = key.stdout.strip()
    order = {
        "patient_id": patient_id, "patient_name": "Thử Nghiệm", "patient_birth_date": "1980-01-01",
        "patient_sex": "O", "ma_the_bhyt": "DN4797933240567", "ma_lk": CLAIM_LINK,
        "ma_dich_vu": "18.0001.0001", "requested_procedure_description": ORDER_PROCEDURE,
        "modality": "CT", "scheduled_station_ae_title": "CT01",
        "scheduled_at": "2026-12-03T14:30:00", "referring_physician_name": "Phạm Minh Châu",
    }
    response = httpx.post(f"{site.url}/api/orders", json=order, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    return str(response.json()["accession_number"])


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is not installed (scripts/setup.sh installs it)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser_context(site: Site, playwright_driver: Any,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = playwright_driver.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 900}, locale="vi-VN",
        env={**os.environ, "TZ": "Asia/Ho_Chi_Minh"},
    )
    context.add_init_script(clock_from(site.received_at))
    try:
        yield context
    finally:
        context.close()


def clock_from(instant: dt.datetime) -> str:
    """A page script that makes the page's clock start at ``instant`` and run on from there.
    Only ``Date`` moves: Playwright's own clock also replaces ``performance``, whose marks the
    tests and bench/viewer read, and Cornerstone's throttles stop under a frozen ``Date``."""
    start_ms = int(instant.timestamp() * 1000)
    return f"""(() => {{
  const RealDate = Date;
  const offset = {start_ms} - RealDate.now();
  const now = () => RealDate.now() + offset;
  globalThis.Date = new Proxy(RealDate, {{
    construct: (target, args, newTarget) =>
      Reflect.construct(target, args.length ? args : [now()], newTarget),
    apply: () => new RealDate(now()).toString(),
    get: (target, key) => (key === 'now' ? now : Reflect.get(target, key)),
  }});
}})();"""


def shot(page: object, name: str) -> Path:
    """Keep a screenshot of the step as a test artefact."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    return path
