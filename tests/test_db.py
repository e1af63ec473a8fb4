"""SQLite writers: the write lock taken at BEGIN, waited for by polling, bounded by the busy
timeout (lienthong.db._begin_immediate)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from lienthong import db


def _writer(path: Path) -> Engine:
    # A separate engine per writer: its own connections, as a second process would have.
    return db.writer_engine(db.make_engine(f"sqlite:///{path}"))


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "index.sqlite3"
    with db.make_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(text("CREATE TABLE item (name TEXT NOT NULL)"))
    return path


def test_a_writer_waits_for_the_write_lock_then_commits(database: Path) -> None:
    holder, waiter = _writer(database), _writer(database)
    outcome: list[object] = []

    def write() -> None:
        try:
            with waiter.begin() as conn:
                conn.execute(text("INSERT INTO item VALUES ('second')"))
            outcome.append("committed")
        except Exception as exc:  # reported below
            outcome.append(exc)

    with holder.begin() as conn:
        conn.execute(text("INSERT INTO item VALUES ('first')"))
        thread = threading.Thread(target=write)
        thread.start()
        thread.join(0.5)
        # The holder's transaction is open: the other writer cannot have got the lock.
        assert thread.is_alive() and outcome == []
    thread.join(10)
    assert outcome == ["committed"]
    with holder.connect() as conn:
        names = conn.execute(text("SELECT name FROM item ORDER BY rowid")).scalars().all()
    assert names == ["first", "second"]


def test_the_wait_for_the_write_lock_ends_at_the_busy_timeout(
        database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.3)
    holder, waiter = _writer(database), _writer(database)
    with holder.begin() as held:
        held.execute(text("INSERT INTO item VALUES ('first')"))
        with pytest.raises(OperationalError) as caught, waiter.begin() as conn:
            conn.execute(text("INSERT INTO item VALUES ('second')"))
        assert isinstance(caught.value.orig, sqlite3.OperationalError)
        assert caught.value.orig.sqlite_errorcode == sqlite3.SQLITE_BUSY
    # The connection that gave up is usable again, with the normal busy timeout restored.
    with waiter.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        conn.execute(text("INSERT INTO item VALUES ('third')"))
    with holder.connect() as conn:
        names = conn.execute(text("SELECT name FROM item ORDER BY rowid")).scalars().all()
    assert names == ["first", "third"]


def test_readers_are_not_held_up_by_a_writer(database: Path) -> None:
    holder = _writer(database)
    reader = db.make_engine(f"sqlite:///{database}")
    with holder.begin() as conn:
        conn.execute(text("INSERT INTO item VALUES ('uncommitted')"))
        with reader.connect() as read:
            # WAL: the reader sees the last committed state at once.
            assert read.execute(text("SELECT count(*) FROM item")).scalar() == 0
