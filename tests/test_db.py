"""Bounded waits on the index database: SQLite writers take the write lock at BEGIN and poll
for it within the busy timeout (lienthong.db._begin_immediate); PostgreSQL connections carry a
lock timeout of the same length and a connect timeout. Statements run on the driver's cursor
(lienthong.db.DriverStatement) write what SQLAlchemy would and fail as it would."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

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


def test_postgres_connections_get_bounded_waits_unless_the_url_sets_them() -> None:
    args = db._postgres_connect_args("postgresql+psycopg://pacs@db.example/index")
    assert args == {"connect_timeout": db.CONNECT_TIMEOUT_S, "options": "-c lock_timeout=30000"}
    own = db._postgres_connect_args(
        "postgresql+psycopg://pacs@db.example/index?connect_timeout=3&options=-c%20x%3D1")
    assert own == {}


@pytest.mark.postgres
def test_a_postgres_writer_gives_up_on_a_lock_after_the_lock_timeout(
        postgres_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.3)
    url = postgres_cluster.create_database()
    holder, waiter = db.make_engine(url), db.make_engine(url)
    try:
        with holder.begin() as conn:
            conn.execute(text("CREATE TABLE item (name TEXT NOT NULL)"))
        with holder.begin() as held:
            held.execute(text("LOCK TABLE item IN ACCESS EXCLUSIVE MODE"))
            outcome = _bounded(lambda: _insert(waiter, "second"))
        # Without a lock timeout the insert would still be waiting (the holder kept the lock).
        assert isinstance(outcome, OperationalError)
        assert getattr(outcome.orig, "sqlstate", None) == "55P03"  # lock_not_available
        with waiter.begin() as conn:
            conn.execute(text("INSERT INTO item VALUES ('third')"))
            assert conn.execute(text("SELECT count(*) FROM item")).scalar() == 1
    finally:
        holder.dispose()
        waiter.dispose()


@pytest.mark.postgres
def test_an_unanswering_postgres_fails_the_connection_within_the_connect_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that takes the TCP connection and never answers (a hung host): opening a
    connection fails after the connect timeout instead of waiting on."""
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes handshakes; nobody ever reads or answers
        port = silent.getsockname()[1]
        engine = db.make_engine(f"postgresql+psycopg://pacs@127.0.0.1:{port}/index")
        outcome = _bounded(lambda: engine.connect().close())
        engine.dispose()
    assert isinstance(outcome, OperationalError)


def _insert(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO item VALUES (:name)"), {"name": name})


def _bounded(call: Callable[[], object], limit: float = 30) -> BaseException | None:
    """What ``call`` raised (None if it returned), run in a thread so that a wait that never
    ends fails the test instead of hanging the suite."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert outcome, f"still waiting after {limit} s"
    return outcome[0]


_ITEMS = Table(
    "driver_item", MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(20), unique=True, nullable=False),
    Column("n", Integer, nullable=False, default=0),
    Column("at", DateTime(timezone=True), nullable=False, default=db.utcnow),
)
_ADD = db.DriverStatement(insert(_ITEMS), column_keys=("name", "n", "at"))
_BUMP = db.DriverStatement(update(_ITEMS).where(_ITEMS.c.name == bindparam("b_name"))
                           .values(n=_ITEMS.c.n + 1))
_BY_NAME = db.DriverStatement(select(_ITEMS.c.n, _ITEMS.c.at)
                              .where(_ITEMS.c.name == bindparam("b_name")))


@pytest.fixture
def items(database_url: str) -> Engine:
    engine = db.writer_engine(db.make_engine(database_url))
    _ITEMS.create(engine)
    return engine


def test_a_driver_statement_writes_what_sqlalchemy_writes(items: Engine) -> None:
    at = db.utcnow()
    with items.begin() as conn:
        conn.execute(insert(_ITEMS), {"name": "core", "n": 5, "at": at})
        _ADD.execute(conn, {"name": "driver", "n": 5, "at": at})
        _BUMP.execute(conn, {"b_name": "driver"})
        row = _BY_NAME.execute(conn, {"b_name": "driver"}).fetchone()
    assert row is not None and row[0] == 6
    # Read back through SQLAlchemy: the date-time went through the same bind processing
    # (SQLite keeps it as text in SQLAlchemy's format, PostgreSQL as timestamptz).
    with items.connect() as conn:
        stored = {r.name: (r.n, r.at) for r in conn.execute(select(_ITEMS))}
    assert stored["driver"] == (6, stored["core"][1]) and stored["core"][0] == 5
    assert stored["core"][1].replace(tzinfo=None) == at.replace(tzinfo=None)


def test_a_driver_statement_fails_with_sqlalchemys_errors(items: Engine) -> None:
    with items.begin() as conn:
        _ADD.execute(conn, {"name": "once", "n": 0, "at": db.utcnow()})
    # Callers (the group committer) tell a constraint violation from an unavailable database
    # by SQLAlchemy's exception classes, not the driver's.
    with pytest.raises(IntegrityError), items.begin() as conn:
        _ADD.execute(conn, {"name": "once", "n": 1, "at": db.utcnow()})
    with items.begin() as conn:
        _BUMP.execute(conn, {"b_name": "once"})
        assert _BY_NAME.execute(conn, {"b_name": "once"}).fetchone()[0] == 1


def test_a_driver_insert_must_set_every_column_with_a_python_default() -> None:
    # Those defaults are applied by SQLAlchemy's execution context, which this path skips.
    with pytest.raises(ValueError, match="'at'"):
        db.DriverStatement(insert(_ITEMS), column_keys=("name", "n"))
    with pytest.raises(ValueError, match="name its columns"):
        db.DriverStatement(insert(_ITEMS))


@pytest.mark.postgres
def test_a_driver_statement_on_a_lost_connection_invalidates_it(postgres_cluster: Any) -> None:
    engine = db.writer_engine(db.make_engine(postgres_cluster.create_database()))
    _ITEMS.create(engine)
    with engine.connect() as conn:
        conn.begin()
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:  # the server ends the session, as on a restart
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(OperationalError) as lost:
            _ADD.execute(conn, {"name": "lost", "n": 0, "at": db.utcnow()})
        # As after a failed Connection.execute: the error says so and the connection is
        # invalidated at once (not left for the pool's next ping to find).
        assert lost.value.connection_invalidated and conn.invalidated
        conn.rollback()
    with engine.begin() as conn:
        _ADD.execute(conn, {"name": "after", "n": 0, "at": db.utcnow()})
        assert _BY_NAME.execute(conn, {"b_name": "after"}).fetchone()[0] == 0
    engine.dispose()
