"""Database plumbing shared by every package: the declarative base, column types, engines.

SQLite runs in WAL mode with ``synchronous=FULL`` so that a committed transaction survives power
loss; PostgreSQL is reached by URL and must run with ``fsync`` and ``synchronous_commit`` on.
Each process makes one engine and one ``sessionmaker``; callers frame their own transactions.

Two kinds of transaction may relax that, through ``relaxed_writer_engine``: their commits do
not wait for the disk (SQLite ``synchronous=NORMAL`` in WAL mode, PostgreSQL
``synchronous_commit=off``).
- The audit rows of reads: the row is committed and visible before the read is answered and
  survives the process being killed; only an operating system crash or power loss can lose the
  last few of them, always a tail of the chain (the write-ahead log is replayed in order), never
  a row in the middle.
- The group committer of ingest, when the database lives on the storage volume: it then
  flushes that whole file system (syncfs) after the commit and acknowledges nothing before the
  flush returns.
Every other commit stays synchronous and makes those earlier rows durable too.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from sqlalchemy import (
    DateTime,
    Engine,
    Insert,
    MetaData,
    String,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# One definition of each recurring column kind (SQLAlchemy "Annotated" reuse).
DicomUID = Annotated[str, mapped_column(String(64))]
AETitle = Annotated[str, mapped_column(String(16))]
Timestamp = Annotated[dt.datetime, mapped_column(DateTime(timezone=True))]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DurabilityError(RuntimeError):
    """The database is configured so that a commit might not survive a crash."""


# How long a statement waits for a lock another connection holds before it fails ("database is
# locked" on SQLite, lock_timeout on PostgreSQL): the caller then answers "index unavailable"
# (0xA701) or 503 instead of holding a modality or a browser indefinitely.
BUSY_TIMEOUT_S = 30.0
_BUSY_TIMEOUT_MS = int(BUSY_TIMEOUT_S * 1000)
# How long opening a PostgreSQL connection may take (a host that drops packets would otherwise
# keep it waiting for the operating system's TCP timeout, minutes).
CONNECT_TIMEOUT_S = 10
# Polling interval while another connection (often another DICOM worker process) holds the
# write lock: first try again after 0.1 ms, then at most every 0.5 ms.
_POLL_FIRST_S, _POLL_MAX_S = 0.0001, 0.0005


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the process's engine; SQLite gets WAL, full sync and a busy timeout, PostgreSQL
    a connect timeout and a lock timeout of the same length."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if make_url(url).get_backend_name() == "postgresql":
        connect_args = {**_postgres_connect_args(url), **kwargs.pop("connect_args", {})}
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
        event.listen(engine, "begin", _postgres_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _postgres_connect_args(url: str) -> dict[str, Any]:
    """Bounded waits for PostgreSQL, as SQLite has its busy timeout; a value the URL sets
    itself (``?connect_timeout=…``, ``?options=…``) is kept."""
    query = make_url(url).query
    args: dict[str, Any] = {}
    if "connect_timeout" not in query:
        args["connect_timeout"] = CONNECT_TIMEOUT_S
    if "options" not in query:
        args["options"] = f"-c lock_timeout={int(BUSY_TIMEOUT_S * 1000)}"
    return args


def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cur.close()
    record.info["synchronous"] = "FULL"


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for the write lock at BEGIN (engine.execution_options(sqlite_immediate=True)) so
    # that concurrent writers wait for it (_begin_immediate) instead of failing when a deferred
    # read lock cannot be upgraded; readers keep plain BEGIN and never block one another (WAL).
    options = conn.get_execution_options()
    # Straight to the driver: this runs at every transaction, and these statements return no
    # rows (SQLAlchemy's execution machinery would cost more than SQLite does).
    driver = conn.connection.driver_connection
    # synchronous is a property of the connection, not of a transaction: set it before every
    # BEGIN (when it changes) so that a pooled connection never carries a relaxed setting over.
    sync = "NORMAL" if options.get("relaxed_commit", False) else "FULL"
    statement = "BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN"
    try:
        if conn.info.get("synchronous") != sync:
            driver.execute(f"PRAGMA synchronous={sync}")
            conn.info["synchronous"] = sync
        if statement == "BEGIN":
            driver.execute(statement)
        else:
            _begin_immediate(driver)
    except sqlite3.Error as exc:
        # SQLAlchemy passes an error of a "begin" listener on as it is: wrap it as it wraps
        # the driver's errors, so that callers see OperationalError (the index answers
        # "unavailable", the gateway 503) and not a bare sqlite3 exception.
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _begin_immediate(driver: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE that gets the write lock soon after its holder lets it go.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries, so a writer
    that finds the lock taken by a transaction of half a millisecond waits at least 1 ms and
    often 3–8 (two DICOM workers indexing at once: 99th percentile 8–9 ms, 5.5–6 ms with this
    poll). Here the busy handler is off while the lock is asked for and the wait is a short poll
    with the same overall limit; once the lock is held, statements keep the normal busy timeout.
    """
    driver.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = _POLL_FIRST_S
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)
    finally:
        driver.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")


def _postgres_begin(conn: Any) -> None:
    if conn.get_execution_options().get("relaxed_commit", False):
        # SET LOCAL: only this transaction commits without waiting for the WAL flush.
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


class DriverStatement:
    """A Core statement compiled once per dialect and run on the driver's own cursor.

    For the few statements run for every received instance. SQLAlchemy's execution path
    (compiled-cache look-up, execution context, events, result set-up) costs about twice what
    SQLite takes to run them: the five statements of an indexed instance took 0.39 ms of CPU
    through ``Connection.execute`` and 0.13 ms on the cursor, measured alone. Parameters go
    through the bind processors SQLAlchemy would apply (a DateTime becomes SQLite's text form),
    driver errors are wrapped as SQLAlchemy wraps them (IntegrityError, OperationalError …),
    and the statement runs in the connection's current transaction. An INSERT must name every
    column it sets (``column_keys``) and every column with a Python-side default among them:
    those defaults are applied by SQLAlchemy's execution context, which this path skips.
    """

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        if isinstance(statement, Insert):
            if column_keys is None:
                raise ValueError("an INSERT run on the driver must name its columns")
            missing = [c.key for c in statement.table.columns
                       if c.default is not None and c.key not in column_keys]
            if missing:
                raise ValueError(f"columns with a Python-side default left out: {missing}")
        self._statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        # Per dialect object (one per engine), so that whatever an engine's dialect settles
        # at connect time (server version, paramstyle) is what the statement is compiled for.
        self._by_dialect: weakref.WeakKeyDictionary[
            Dialect, tuple[SQLCompiler, dict[str, Callable[[Any], Any]]]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    def _compiled(self, dialect: Dialect) -> tuple[SQLCompiler, dict[str, Callable[[Any], Any]]]:
        found = self._by_dialect.get(dialect)
        if found is not None:
            return found
        with self._lock:
            found = self._by_dialect.get(dialect)
            if found is None:
                compiled = self._statement.compile(dialect=dialect,
                                                   column_keys=self._column_keys)
                assert isinstance(compiled, SQLCompiler)
                processors: dict[str, Callable[[Any], Any]] = {}
                for name, bind in compiled.binds.items():
                    process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                    if process is not None:
                        processors[name] = process
                found = self._by_dialect[dialect] = (compiled, processors)
            return found

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run with ``params`` (bind names → values) on ``conn``; returns the DBAPI cursor."""
        dialect = conn.dialect
        compiled, processors = self._compiled(dialect)
        values = compiled.construct_params(dict(params))
        for name, process in processors.items():
            values[name] = process(values[name])
        args: Any = ([values[name] for name in compiled.positiontup or ()]
                     if compiled.positional else values)
        driver = conn.connection.dbapi_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.string, args)
        except dialect.loaded_dbapi.Error as exc:
            # As SQLAlchemy does: a lost connection is invalidated, so the pool replaces it.
            lost = dialect.is_disconnect(exc, driver, cursor)
            error = DBAPIError.instance(compiled.string, args, exc, dialect.loaded_dbapi.Error,
                                        connection_invalidated=lost, dialect=dialect)
            if lost:
                conn.invalidate(error)
            raise error from exc
        return cursor


def writer_engine(engine: Engine) -> Engine:
    """The same engine, but transactions take the write lock at BEGIN on SQLite."""
    return engine.execution_options(sqlite_immediate=True)


def relaxed_writer_engine(engine: Engine) -> Engine:
    """The writer engine whose commits do not wait for the disk (see the module docstring).

    A commit survives a killed process, not power loss. Only two uses: ``lienthong.audit``
    appends of reads made in their own transaction, and the group committer of ingest when it
    flushes the file system holding the SQLite database after the commit and acknowledges
    nothing before that flush returns. Never for other data a peer relies on.
    """
    return engine.execution_options(sqlite_immediate=True, relaxed_commit=True)


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a file-backed SQLite engine, else None."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def check_durability(engine: Engine) -> None:
    """Refuse to run on a database that could lose acknowledged commits (reliability G2)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            if str(mode).lower() != "wal" or int(sync or 0) < 2:
                raise DurabilityError(f"SQLite journal_mode={mode} synchronous={sync}")
        elif engine.dialect.name == "postgresql":
            for setting in ("fsync", "synchronous_commit"):
                value = conn.execute(text(f"SHOW {setting}")).scalar()
                if str(value).lower() == "off":
                    raise DurabilityError(f"PostgreSQL {setting}=off")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
