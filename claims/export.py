"""The daily export (spec §2.3, §2.6, §2.7, §10): build → validate → sign → write, idempotently.

For an export day D: every episode closed on D (date of NGAY_RA) whose latest version is not
accepted is built, its imaging lines filled from the PACS, checked (XSD per table and envelope,
every pre-check rule), signed and written as one file per episode into ``<outbox>/<yyyyMMdd>/``,
then a day manifest (counts, totals, digests) is written. Every file is written atomically.

Idempotence: a version (ClaimExport row) is keyed by the digest of the episode's effective
record; the envelope's NGAYLAP is the version's own ``built_on`` date and RSA PKCS#1 v1.5
signatures are deterministic, so rebuilding an unchanged episode gives the same bytes, and an
existing identical file is left untouched. A changed episode gets version n+1; the previous file
is removed if it was never submitted. A run killed at any point leaves only complete files and
is completed by the next run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from claims import spec, values
from claims.imaging import fill_imaging
from claims.outbox import day_folder, publish, sweep_temporary, write_atomic
from claims.pipeline import (
    Built,
    ExportConfig,
    build_and_stage,
    build_signed,
    worker_build,
    worker_init,
)
from claims.records.episode import EpisodeRecord
from claims.records.models import ClaimEpisode, ClaimExport
from claims.records.store import load_episodes, load_records
from claims.validate.violations import Violation, blocking

__all__ = ["ExportConfig", "ExportReport", "build_signed", "export_day"]

log = logging.getLogger(__name__)

CHUNK = 200


@dataclass
class ExportReport:
    day: dt.date
    written: int = 0
    unchanged: int = 0
    refused: int = 0
    skipped: int = 0
    manifest: Path | None = None
    violations: list[Violation] = field(default_factory=list)


def episodes_to_export(session: Session, day: dt.date) -> list[int]:
    """Ids of the episodes closed on ``day`` whose latest version is not accepted."""
    ids = session.scalars(select(ClaimEpisode.id).where(ClaimEpisode.closed_on == day)
                          .order_by(ClaimEpisode.id)).all()
    accepted = set(session.scalars(
        select(ClaimExport.episode_fk).where(ClaimExport.status == "accepted")
        .where(ClaimExport.episode_fk.in_(ids))).all()) if ids else set()
    return [i for i in ids if i not in accepted]


def _version_for(session: Session, row: ClaimEpisode, digest: str, today: dt.date,
                 day: dt.date) -> ClaimExport:
    latest = row.exports[-1] if row.exports else None
    if latest is not None and latest.record_digest == digest and latest.status != "superseded":
        return latest
    version = (latest.version + 1) if latest is not None else 1
    export = ClaimExport(
        episode_fk=row.id, version=version, record_digest=digest, built_on=today,
        export_day=day,
        file_name=spec.FILE_NAME_FORMAT.format(episode_id=row.id, version=version),
    )
    session.add(export)
    row.exports.append(export)
    return export


def export_day(sessions: sessionmaker[Session], cfg: ExportConfig, day: dt.date, today: dt.date,
               progress: Callable[[int, int], None] | None = None) -> ExportReport:
    """Export every pending episode closed on ``day``; ``today`` dates new versions (NGAYLAP).

    Chunks are pipelined: while the workers build and stage chunk k, this process loads and
    versions chunk k+1, then publishes chunk k's files and records them.
    """
    report = ExportReport(day)
    folder = day_folder(cfg.outbox, day.strftime("%Y%m%d"))
    sweep_temporary(folder)
    with sessions() as session:
        ids = episodes_to_export(session, day)
    total = len(ids)
    if progress:
        progress(0, total)
    builder = Builder(cfg, total)
    try:
        pending: tuple[int, list[_Work], Iterator[Built]] | None = None
        for start in range(0, total + CHUNK, CHUNK):
            chunk = ids[start:start + CHUNK]
            work = _prepare_chunk(sessions, cfg, chunk, today, day, report) if chunk else []
            started = (len(chunk), work, builder.start(work, folder)) if chunk else None
            if pending is not None:
                _finish_chunk(sessions, folder, pending[1], pending[2], report)
                if progress:
                    progress(pending[0], total)
            pending = started
    finally:
        builder.close()
    report.manifest = write_manifest(sessions, cfg, day, folder, report)
    return report


@dataclass(frozen=True)
class _Work:
    """One episode of a chunk: its version row and effective record."""

    export_id: int
    episode_id: int
    file_name: str
    built_on: dt.date
    record: EpisodeRecord
    stale: tuple[str, ...]  # file names of its older versions never submitted


class Builder:
    """Runs build_and_stage for a chunk, in this process or in a pool of worker processes."""

    def __init__(self, cfg: ExportConfig, episodes: int) -> None:
        self.cfg = cfg
        self.pool: ProcessPoolExecutor | None = None
        if cfg.workers > 1 and cfg.key_file is not None and episodes > CHUNK:
            shipped = replace(cfg, key=None)  # type: ignore[arg-type]
            self.pool = ProcessPoolExecutor(cfg.workers, mp.get_context("spawn"),
                                            initializer=worker_init, initargs=(shipped,))

    def start(self, work: list[_Work], folder: Path) -> Iterator[Built]:
        """Results in ``work`` order; with a pool they are computed while the caller goes on."""
        items = [(folder, w.file_name, w.record, w.built_on) for w in work]
        if self.pool is None:
            return iter([build_and_stage(self.cfg, *item) for item in items])
        size = max(1, len(items) // (self.cfg.workers * 4))
        return self.pool.map(worker_build, items, chunksize=size)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _prepare_chunk(sessions: sessionmaker[Session], cfg: ExportConfig, chunk: list[int],
                   today: dt.date, day: dt.date, report: ExportReport) -> list[_Work]:
    """Load the chunk's episodes (a few set-based queries) and commit their versions."""
    prepared = []
    with sessions.begin() as session:
        records = load_records(session, chunk)
        for row in load_episodes(session, chunk, rows=False):
            record = records[row.id]
            if record.xml1.get("MA_DOITUONG_KCB") == spec.NON_BHYT_CATEGORY and \
                    not spec.EXPORT_NON_BHYT:
                report.skipped += 1
                continue
            fill_imaging(session, record, cfg.machine_codes, cfg.technologist_codes)
            export = _version_for(session, row, record.digest(), today, day)
            prepared.append((row, record, export))
        session.flush()
        work = [_Work(export.id, row.id, export.file_name, export.built_on, record,
                      tuple(e.file_name for e in row.exports
                            if e is not export and e.status in ("built", "written")))
                for row, record, export in prepared]
    # The versions are committed before any file is written: a re-run after a crash finds
    # the same version (same NGAYLAP) and rebuilds the same bytes.
    return work


def _finish_chunk(sessions: sessionmaker[Session], folder: Path, work: list[_Work],
                  results: Iterator[Built], report: ExportReport) -> None:
    done: dict[int, str] = {}
    staged: list[str] = []
    for w, built in zip(work, results, strict=True):
        report.violations.extend(built.violations)
        if built.digest is None:
            report.refused += 1
            continue
        if built.staged:
            staged.append(w.file_name)
            report.written += 1
        else:
            report.unchanged += 1
        done[w.export_id] = built.digest
    # Every file of the batch is durable and renamed before the versions say "written".
    publish(folder, staged)
    if not done:
        return
    episode_ids = [w.episode_id for w in work if w.export_id in done]
    with sessions.begin() as session:
        now = dt.datetime.now(dt.UTC)
        for export in session.scalars(select(ClaimExport).where(ClaimExport.id.in_(done))):
            if export.status in ("built", "written"):
                export.status, export.file_sha256 = "written", done[export.id]
                if export.written_at is None:
                    export.written_at = now
        for older in session.scalars(select(ClaimExport).where(
                ClaimExport.episode_fk.in_(episode_ids), ClaimExport.id.not_in(done),
                ClaimExport.status.in_(("built", "written")))):
            older.status = "superseded"
        for w in work:
            for name in w.stale if w.export_id in done else ():
                for candidate in folder.parent.glob(f"*/{name}"):
                    candidate.unlink(missing_ok=True)


def write_manifest(sessions: sessionmaker[Session], cfg: ExportConfig, day: dt.date,
                   folder: Path, report: ExportReport) -> Path:
    """The day manifest: every current file of the day with MA_LK, totals and digests."""
    files = []
    t_bv = Decimal(0)
    t_bhtt = Decimal(0)
    with sessions() as session:
        rows = session.execute(
            select(ClaimEpisode, ClaimExport).join(ClaimExport)
            .where(ClaimEpisode.closed_on == day)
            .where(ClaimExport.status.in_(("written", "submitted", "accepted", "rejected")))
            .order_by(ClaimEpisode.id, ClaimExport.version)).all()
    latest: dict[int, tuple[ClaimEpisode, ClaimExport]] = {}
    for ep, ex in rows:
        latest[ep.id] = (ep, ex)
    for ep, ex in latest.values():
        files.append({"ma_lk": ep.ma_lk, "file": ex.file_name, "version": ex.version,
                      "sha256": ex.file_sha256, "status": ex.status,
                      "t_tongchi_bv": values.money(ep.t_tongchi_bv),
                      "t_bhtt": values.money(ep.t_bhtt)})
        t_bv += ep.t_tongchi_bv
        t_bhtt += ep.t_bhtt
    refused = sorted({v.ma_lk for v in blocking(report.violations)})
    manifest = {
        "facility_code": cfg.facility_code, "day": day.isoformat(), "files": files,
        "counts": {"files": len(files), "refused": len(refused)},
        "totals": {"t_tongchi_bv": values.money(t_bv), "t_bhtt": values.money(t_bhtt)},
        "refused": refused,
    }
    data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    write_atomic(folder, spec.MANIFEST_NAME, data)
    return folder / spec.MANIFEST_NAME


