"""The audit trail's hash chain: appends, tampering, deletion, truncation, concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from lienthong import audit
from lienthong.db import (
    check_durability,
    make_engine,
    make_sessionmaker,
    relaxed_writer_engine,
    writer_engine,
)
from lienthong.settings import load_settings
from tests.support.server import lienthong


def _sessions(url: str) -> sessionmaker[Session]:
    return make_sessionmaker(writer_engine(make_engine(url)))


def _append(sessions: sessionmaker[Session], n: int, actor: str = "dr.an") -> None:
    for i in range(n):
        audit.record_committed(
            sessions, actor=actor, actor_kind="user", role="radiologist",
            action="GET /dicomweb/studies", outcome=audit.Outcome.SUCCESS,
            address="127.0.0.1", study_instance_uid=f"1.2.3.{i}", patient_id=f"P{i}",
        )


def _drop_append_only_guard(sessions: sessionmaker[Session]) -> None:
    """What an attacker with DBA rights would do first."""
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        else:
            session.execute(text("DROP TRIGGER audit_event_no_update"))
            session.execute(text("DROP TRIGGER audit_event_no_delete"))


def test_chain_links_each_row_to_the_previous(database_url: str) -> None:
    sessions = _sessions(database_url)
    _append(sessions, 5)
    with sessions() as session:
        rows = session.scalars(select(audit.AuditEvent).order_by(audit.AuditEvent.seq)).all()
        report = audit.verify_chain(session)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert all(rows[i].prev_hash == rows[i - 1].row_hash for i in range(1, 5))
    assert report.ok and report.rows == 5


def test_update_and_delete_are_refused_by_the_database(database_url: str) -> None:
    sessions = _sessions(database_url)
    _append(sessions, 2)
    for statement in ("UPDATE audit_event SET actor = 'someone' WHERE seq = 1",
                      "DELETE FROM audit_event WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"), sessions.begin() as session:
            session.execute(text(statement))
    with sessions() as session:
        assert audit.verify_chain(session).ok


def test_tampered_row_is_detected_by_the_cli(database_url: str, tmp_path: Path) -> None:
    sessions = _sessions(database_url)
    _append(sessions, 4)
    env = {"LIENTHONG_DATABASE_URL": database_url}
    data_dir = tmp_path / "data"
    ok = lienthong(data_dir, "audit", "verify", env=env)
    assert ok.returncode == 0 and "audit chain OK: 4 rows" in ok.stdout

    _drop_append_only_guard(sessions)
    with sessions.begin() as session:
        session.execute(text("UPDATE audit_event SET patient_id = 'P999' WHERE seq = 3"))
    broken = lienthong(data_dir, "audit", "verify", env=env, check=False)
    assert broken.returncode == 1
    assert "BROKEN at seq 3" in broken.stdout and "content does not match" in broken.stdout


def test_deleted_and_truncated_rows_are_detected(database_url: str) -> None:
    sessions = _sessions(database_url)
    _append(sessions, 5)
    _drop_append_only_guard(sessions)
    with sessions.begin() as session:
        session.execute(text("DELETE FROM audit_event WHERE seq = 5"))
    with sessions() as session:
        report = audit.verify_chain(session)
    assert report.first_break is not None and "removed" in report.first_break.reason
    with sessions.begin() as session:
        session.execute(text("DELETE FROM audit_event WHERE seq = 2"))
    with sessions() as session:
        report = audit.verify_chain(session)
    assert report.first_break is not None
    assert report.first_break.seq == 2 and "missing" in report.first_break.reason


def test_rewritten_row_with_recomputed_hash_breaks_the_next_link(database_url: str) -> None:
    sessions = _sessions(database_url)
    _append(sessions, 3)
    _drop_append_only_guard(sessions)
    with sessions.begin() as session:
        row = session.scalars(select(audit.AuditEvent).where(audit.AuditEvent.seq == 2)).one()
        row.actor = "forger"
        row.row_hash = audit.compute_hash(row)
    with sessions() as session:
        report = audit.verify_chain(session)
    assert report.first_break is not None and report.first_break.seq == 3
    assert "prev_hash" in report.first_break.reason


def test_concurrent_writers_do_not_fork_the_chain(database_url: str) -> None:
    sessions = _sessions(database_url)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            _append(sessions, 15, actor=name)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as session:
        report = audit.verify_chain(session)
        seqs = session.scalars(select(audit.AuditEvent.seq).order_by(audit.AuditEvent.seq)).all()
    assert report.ok and report.rows == 60
    assert list(seqs) == list(range(1, 61))


def test_dicom_actor_is_recorded(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d")
    from lienthong.migrate import upgrade

    upgrade(settings.effective_database_url)
    sessions = _sessions(settings.effective_database_url)
    event = audit.record_committed(
        sessions, actor="CT01", actor_kind="dicom_ae", role=None, action="C-STORE",
        outcome=audit.Outcome.SUCCESS, address="10.0.0.21", study_instance_uid="1.2.840.1",
    )
    assert event.actor_kind == "dicom_ae" and event.role == "" and event.seq == 1


def _append_in_process(url: str, actor: str, count: int) -> None:
    sessions = _sessions(url)
    _append(sessions, count, actor=actor)
    sessions.kw["bind"].dispose()


def test_writer_processes_do_not_fork_the_chain(database_url: str) -> None:
    """As in production: DICOM worker processes and the HTTP process append at once."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_append_in_process, args=(database_url, f"AE{i}", 20))
               for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    with _sessions(database_url)() as session:
        report = audit.verify_chain(session)
    assert report.ok and report.rows == 60


def _commit_mode(conn: Connection) -> str:
    if conn.dialect.name == "sqlite":
        return {0: "off", 1: "normal", 2: "full", 3: "extra"}[
            int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)]
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


def test_only_audit_transactions_skip_the_disk_wait(database_url: str) -> None:
    """relaxed_writer_engine commits without waiting for the disk; the same pooled connection is
    back to synchronous commits for every other transaction (and passes the durability check)."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    relaxed = "normal" if engine.dialect.name == "sqlite" else "off"
    durable = "full" if engine.dialect.name == "sqlite" else "on"
    with writer_engine(engine).begin() as conn:
        assert _commit_mode(conn) == durable
    with relaxed_writer_engine(engine).begin() as conn:
        assert _commit_mode(conn) == relaxed
        first = conn.connection.dbapi_connection
    for other in (engine, writer_engine(engine)):
        with other.begin() as conn:
            assert conn.connection.dbapi_connection is first  # the pool's one connection
            assert _commit_mode(conn) == durable
    check_durability(engine)
    sessions = make_sessionmaker(relaxed_writer_engine(engine))
    _append(sessions, 3)
    with sessions() as session:
        assert audit.verify_chain(session).rows == 3
    engine.dispose()


def test_relaxed_writer_engine_keeps_the_chain_under_concurrent_writers(database_url: str) -> None:
    engine = make_engine(database_url)
    relaxed, durable = make_sessionmaker(relaxed_writer_engine(engine)), _sessions(database_url)
    errors: list[BaseException] = []

    def writer(sessions: sessionmaker[Session], name: str) -> None:
        try:
            _append(sessions, 15, actor=name)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s, f"w{i}"))
               for i, s in enumerate((relaxed, durable, relaxed, durable))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with relaxed() as session:
        report = audit.verify_chain(session)
    assert report.ok and report.rows == 60
    engine.dispose()
