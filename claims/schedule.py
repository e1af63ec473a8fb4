"""The daily export inside ``serve``: at ``claims.export_time`` (local time) export the previous
day's closed episodes; at start, catch up on the previous day if its manifest is missing.

Runs in a daemon thread of the serve process; every run is an ordinary, idempotent
``export_day``, so a run after a crash or a double start writes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading

from lienthong.db import make_engine, make_sessionmaker, writer_engine
from lienthong.settings import Settings

log = logging.getLogger(__name__)


def next_run(now: dt.datetime, at: dt.time) -> dt.datetime:
    """The next local time-of-day ``at`` strictly after ``now``."""
    candidate = dt.datetime.combine(now.date(), at)
    return candidate if candidate > now else candidate + dt.timedelta(days=1)


def run_export(settings: Settings, day: dt.date) -> None:
    from claims.codes import load_code_lists
    from claims.export import ExportConfig, export_day
    from claims.sign import load_signing_key

    password = settings.claims.certificate_password
    key = load_signing_key(settings.claims.certificate_path,
                           password.get_secret_value() if password else None)
    cfg = ExportConfig(settings.claims.facility_code, settings.claims_outbox_dir, key,
                       load_code_lists(settings.claims.code_list_dir),
                       settings.claims.machine_codes, settings.claims.technologist_codes,
                       workers=settings.claims.export_workers or (os.cpu_count() or 1),
                       key_file=settings.claims.certificate_path,
                       key_password=password.get_secret_value() if password else None)
    engine = make_engine(settings.effective_database_url)
    try:
        report = export_day(make_sessionmaker(writer_engine(engine)), cfg, day, dt.date.today())
    finally:
        engine.dispose()
    log.info("claims export %s: %d written, %d unchanged, %d refused", day, report.written,
             report.unchanged, report.refused)


class DailyExport:
    """The schedule thread; ``stop()`` ends it at once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="claims-export", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run_safely(self, day: dt.date) -> None:
        try:
            run_export(self.settings, day)
        except Exception:  # boundary of a background job: log and keep the schedule alive
            log.exception("claims export for %s failed", day)

    def _loop(self) -> None:
        yesterday = dt.date.today() - dt.timedelta(days=1)
        manifest = self.settings.claims_outbox_dir / yesterday.strftime("%Y%m%d") / "manifest.json"
        if not manifest.exists():
            self._run_safely(yesterday)
        while not self._stop.is_set():
            now = dt.datetime.now()
            wait = (next_run(now, self.settings.claims.export_time) - now).total_seconds()
            if self._stop.wait(wait):
                return
            self._run_safely(dt.date.today() - dt.timedelta(days=1))
