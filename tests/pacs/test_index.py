"""Ingest into the index, on SQLite and on a real PostgreSQL: rows, duplicates, conflicts."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

import pytest
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import Engine, event, func, select

from lienthong import db
from lienthong.db import make_engine, make_sessionmaker, relaxed_writer_engine, writer_engine
from lienthong.migrate import upgrade
from pacs.demo import PATIENTS, demo_datasets, encode
from pacs.errors import IndexUnavailable, UndecodableDataset
from pacs.index import committer as committer_module
from pacs.index.committer import GroupCommitter
from pacs.index.ingest import Outcome, prepare_instance
from pacs.index.models import Instance, Patient, QuarantinedInstance, Series, Study
from pacs.storage.filesystem import FilesystemStore


@pytest.fixture()
def archive_parts(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp")
    committer = GroupCommitter(make_sessionmaker(writer_engine(engine)), store, batch=16)
    yield make_sessionmaker(engine), store, committer
    committer.close()
    engine.dispose()


def _prepare(store, ds, encoded=None):  # type: ignore[no-untyped-def]
    return prepare_instance(
        store, encoded or encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
        sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
        calling_ae_title="TESTSCU",
    )


def _ingest(store, committer, ds, encoded=None):  # type: ignore[no-untyped-def]
    prepared = _prepare(store, ds, encoded)
    return prepared, committer.index(prepared)


def _sqlite_index(tmp_path: Path) -> Engine:
    """An engine on a migrated SQLite index in ``tmp_path``."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    upgrade(url)
    return make_engine(url)


def test_demo_study_rows_and_counts(archive_parts) -> None:  # type: ignore[no-untyped-def]
    sessions, store, committer = archive_parts
    datasets = list(demo_datasets(dt.date(2026, 12, 1)))
    for ds in datasets:
        _, outcome = _ingest(store, committer, ds)
        assert outcome is Outcome.STORED
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == len(datasets)
        studies = {st.accession_number: st for st in s.scalars(select(Study))}
        ct = next(st for st in studies.values() if st.modalities_in_study == "CT")
        assert ct.number_of_series == 1
        assert ct.number_of_instances == 40
        assert ct.patient_name == PATIENTS[0].name  # ISO_IR 192 round-trips exactly
        names = set(s.scalars(select(Patient.patient_name)))
        assert names == {p.name for p in PATIENTS}
        folded = s.scalar(
            select(Patient.patient_name_folded).where(Patient.patient_id == "BN0002")
        )
        assert folded == "LUONG^THI DAO"
        series = s.scalar(select(Series).where(Series.study_fk == ct.id))
        assert series is not None and series.number_of_instances == 40
        # Every instance's metadata is stored, bulk data by reference only.
        meta = s.scalar(select(Instance.metadata_json).limit(1))
        pixel_ref = '"7FE00010":{"vr":"OW","BulkDataURI":"bulkdata/7FE00010"}'
        assert meta is not None and pixel_ref in meta


def test_resent_identical_instance_keeps_one_copy(archive_parts) -> None:  # type: ignore[no-untyped-def]
    sessions, store, committer = archive_parts
    ds = next(iter(demo_datasets(dt.date(2026, 12, 1))))
    first, _ = _ingest(store, committer, ds)
    second, outcome = _ingest(store, committer, ds)
    assert outcome is Outcome.DUPLICATE
    assert store.exists(first.file_key) and not store.exists(second.file_key)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == 1


def test_resent_different_content_is_quarantined(archive_parts, caplog) -> None:  # type: ignore[no-untyped-def]
    sessions, store, committer = archive_parts
    ds = next(iter(demo_datasets(dt.date(2026, 12, 1))))
    first, _ = _ingest(store, committer, ds)
    ds.SeriesDescription = "changed"
    with caplog.at_level(logging.WARNING):
        second, outcome = _ingest(store, committer, ds)
    assert outcome is Outcome.QUARANTINED
    assert "quarantined" in caplog.text
    with sessions() as s:
        kept = s.scalar(select(Instance))
        assert kept is not None and kept.file_key == first.file_key
        q = s.scalar(select(QuarantinedInstance))
        assert q is not None and q.file_key == second.file_key
    assert store.exists(first.file_key) and store.exists(second.file_key)


def test_same_patient_id_other_name_is_logged_not_merged(archive_parts, caplog) -> None:  # type: ignore[no-untyped-def]
    sessions, store, committer = archive_parts
    datasets = list(demo_datasets(dt.date(2026, 12, 1)))
    _ingest(store, committer, datasets[0])
    other = datasets[-1]  # another study
    other.PatientID = datasets[0].PatientID
    other.PatientName = "Khác^Tên"
    with caplog.at_level(logging.WARNING):
        _, outcome = _ingest(store, committer, other)
    assert outcome is Outcome.STORED
    assert "different patient name" in caplog.text
    assert "Khác" not in caplog.text  # no patient names in logs
    with sessions() as s:
        patient = s.scalar(select(Patient).where(Patient.patient_id == datasets[0].PatientID))
        assert patient is not None and patient.patient_name == datasets[0].PatientName
        study = s.scalar(select(Study).where(Study.study_instance_uid == other.StudyInstanceUID))
        assert study is not None and study.patient_name == "Khác^Tên"


class _FlushLog(FilesystemStore):
    """The real store, noting when each flush of the volume started and ended."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.flushes: list[tuple[float, float]] = []

    def sync(self, keys: list[str]) -> None:
        started = time.monotonic()
        super().sync(keys)
        self.flushes.append((started, time.monotonic()))

    def flush(self) -> None:
        started = time.monotonic()
        super().flush()
        self.flushes.append((started, time.monotonic()))


def test_relaxed_commits_are_acknowledged_after_a_later_flush(tmp_path: Path) -> None:
    """With commits flushed by the sync thread, each instance's waiter is released only after a
    flush of the volume that started after its commit (and so holds the commit)."""
    engine = _sqlite_index(tmp_path)
    store = _FlushLog(tmp_path / "objects", tmp_path / "tmp", sync_filesystem=True)
    commits: list[float] = []
    sessions = make_sessionmaker(relaxed_writer_engine(engine))
    event.listen(sessions, "after_commit", lambda _session: commits.append(time.monotonic()))
    committer = GroupCommitter(sessions, store, batch=4, commits_flushed_by_sync=True)
    try:
        datasets = list(demo_datasets(dt.date(2026, 12, 1)))[:12]
        released = []
        for ds in datasets:
            _ingest(store, committer, ds)
            released.append(time.monotonic())
    finally:
        committer.close()
    assert len(commits) == len(datasets)  # one instance queued at a time: one commit each
    for committed, acknowledged in zip(commits, released, strict=True):
        assert any(committed < start and end <= acknowledged for start, end in store.flushes)
    with make_sessionmaker(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == len(datasets)
    engine.dispose()


def test_a_write_lock_held_past_the_busy_timeout_refuses_the_batch_cleanly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer keeps the SQLite write lock: the instance is refused as "index
    unavailable" (0xA701 to the peer), its file removed; once the lock is free it indexes."""
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.3)
    engine = _sqlite_index(tmp_path)
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp")
    committer = GroupCommitter(make_sessionmaker(writer_engine(engine)), store, batch=4)
    other = writer_engine(make_engine(str(engine.url)))  # as another process would hold it
    ds = next(iter(demo_datasets(dt.date(2026, 12, 1))))
    try:
        with other.begin():
            with pytest.raises(IndexUnavailable):
                _ingest(store, committer, ds)
            assert list((tmp_path / "objects").glob("*/*/*")) == []
        _, outcome = _ingest(store, committer, ds)
        assert outcome is Outcome.STORED
    finally:
        committer.close()
        other.dispose()
    with make_sessionmaker(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == 1
    engine.dispose()


def _preparer(store, ds):  # type: ignore[no-untyped-def]
    return lambda: _prepare(store, ds)


def test_an_instance_in_preparation_joins_the_batch_of_a_queued_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Instance B is being prepared when A is queued: the sync thread waits for B, and both are
    indexed in one transaction."""
    monkeypatch.setattr(committer_module, "GATHER_S", 30.0)  # B arrives long before this
    engine = _sqlite_index(tmp_path)
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp")
    sessions = make_sessionmaker(writer_engine(engine))
    commits: list[float] = []
    event.listen(sessions, "after_commit", lambda _session: commits.append(time.monotonic()))
    committer = GroupCommitter(sessions, store, batch=4)
    first, second = list(demo_datasets(dt.date(2026, 12, 1)))[:2]
    b_started, a_queued = threading.Event(), threading.Event()

    def prepare_b():  # type: ignore[no-untyped-def]
        b_started.set()
        assert a_queued.wait(10)
        time.sleep(0.2)  # A is in the sync thread's hands by now, waiting for B
        return _preparer(store, second)()

    outcomes: dict[str, Outcome] = {}
    thread_b = threading.Thread(
        target=lambda: outcomes.setdefault("b", committer.ingest(prepare_b, timeout=20)))
    try:
        thread_b.start()
        assert b_started.wait(10)
        prepare_a = _preparer(store, first)

        def prepare_a_then_signal():  # type: ignore[no-untyped-def]
            item = prepare_a()
            threading.Timer(0.05, a_queued.set).start()  # just after A's submission
            return item

        outcomes["a"] = committer.ingest(prepare_a_then_signal, timeout=20)
        thread_b.join(20)
    finally:
        committer.close()
    assert outcomes == {"a": Outcome.STORED, "b": Outcome.STORED}
    assert len(commits) == 1
    with make_sessionmaker(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == 2
    engine.dispose()


def test_a_lone_instance_and_a_failed_preparation_never_hold_a_batch_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing else in preparation the batch is not held (were it held for GATHER_S, the
    ingest would time out); a preparation that raises is no longer waited for."""
    monkeypatch.setattr(committer_module, "GATHER_S", 60.0)
    engine = _sqlite_index(tmp_path)
    store = FilesystemStore(tmp_path / "objects", tmp_path / "tmp")
    committer = GroupCommitter(make_sessionmaker(writer_engine(engine)), store, batch=4)
    first, second = list(demo_datasets(dt.date(2026, 12, 1)))[:2]

    def broken():  # type: ignore[no-untyped-def]
        raise UndecodableDataset("dataset does not parse")

    try:
        assert committer.ingest(_preparer(store, first), timeout=10) is Outcome.STORED
        with pytest.raises(UndecodableDataset):
            committer.ingest(broken, timeout=10)
        assert committer.ingest(_preparer(store, second), timeout=10) is Outcome.STORED
    finally:
        committer.close()
    engine.dispose()
