"""The daily export schedule inside `serve`: next run time and the catch-up run at start."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cryptography import x509

from claims import synthetic
from claims.records.store import save_episode
from claims.schedule import DailyExport, next_run
from lienthong.db import make_engine, make_sessionmaker
from lienthong.migrate import upgrade
from lienthong.settings import load_settings
from tests.claims.conftest import PASSWORD


def test_next_run_is_today_or_tomorrow_at_the_set_time() -> None:
    at = dt.time(1, 0)
    assert next_run(dt.datetime(2026, 12, 1, 0, 30), at) == dt.datetime(2026, 12, 1, 1, 0)
    assert next_run(dt.datetime(2026, 12, 1, 1, 0), at) == dt.datetime(2026, 12, 2, 1, 0)
    assert next_run(dt.datetime(2026, 12, 31, 23, 0), at) == dt.datetime(2027, 1, 1, 1, 0)


def test_start_catches_up_on_yesterday(tmp_path: Path,
                                       p12: tuple[Path, x509.Certificate]) -> None:
    settings = load_settings(data_dir=tmp_path / "data", claims={
        "facility_code": "79001", "certificate_path": str(p12[0]),
        "certificate_password": PASSWORD, "daily_export": True, "export_time": "23:59"})
    upgrade(settings.effective_database_url)
    yesterday = dt.date.today() - dt.timedelta(days=1)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with sessions.begin() as s:
        save_episode(s, synthetic.episode(1, yesterday, lines=6), "api")
    manifest = settings.claims_outbox_dir / yesterday.strftime("%Y%m%d") / "manifest.json"
    daily = DailyExport(settings)
    daily.start()
    try:
        for _ in range(600):
            if manifest.exists():
                break
            daily._stop.wait(0.1)
    finally:
        daily.stop()
    assert json.loads(manifest.read_text("utf-8"))["counts"] == {"files": 1, "refused": 0}
