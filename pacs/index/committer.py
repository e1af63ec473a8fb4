"""Group commit: many associations' prepared instances indexed in one transaction.

Each association thread prepares its instance (parse, check, durable file write) in parallel,
then hands it to the single committer thread of its process and waits. The committer drains what
is queued (up to ``batch`` items), indexes each inside its own savepoint so that one bad item
cannot fail the others, commits once (one WAL fsync for the whole batch) and only then releases
the waiters. Nothing is acknowledged before its commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pacs.errors import IndexUnavailable
from pacs.index.ingest import Outcome, PreparedInstance, index_instance
from pacs.storage.base import InstanceStore

log = logging.getLogger(__name__)


@dataclass
class _Job:
    item: PreparedInstance
    future: Future[Outcome]


class GroupCommitter:
    """Serialises index writes of one process and commits them in batches."""

    def __init__(self, sessions: sessionmaker[Session], store: InstanceStore, batch: int) -> None:
        self._sessions = sessions
        self._store = store
        self._batch = batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="index-committer", daemon=True)
        self._thread.start()

    def submit(self, item: PreparedInstance) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._queue.put(_Job(item, future))
        return future

    def index(self, item: PreparedInstance, timeout: float = 120.0) -> Outcome:
        """Index one prepared instance and wait for its commit. Raises IndexUnavailable."""
        return self.submit(item).result(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self._batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._commit(jobs)
                    return
                jobs.append(nxt)
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Outcome | Exception]] = []
        try:
            with self._sessions.begin() as session:
                for job in jobs:
                    outcomes.append((job, self._index_one(session, job.item)))
        except SQLAlchemyError as exc:
            log.error("index transaction failed, %d instances refused: %s", len(jobs), exc)
            for job in jobs:
                # The files are durable but unindexed: remove them so no orphan stays behind.
                self._discard(job.item.file_key)
                job.future.set_exception(
                    IndexUnavailable(f"index unavailable: {exc.__class__.__name__}")
                )
            return
        for job, outcome in outcomes:
            if isinstance(outcome, Exception):
                self._discard(job.item.file_key)
                job.future.set_exception(outcome)
                continue
            if outcome is Outcome.DUPLICATE:
                self._discard(job.item.file_key)
            job.future.set_result(outcome)

    def _index_one(self, session: Session, item: PreparedInstance) -> Outcome | Exception:
        # Two attempts: a concurrent writer (another process, another node) may create the same
        # patient/study/series between our SELECT and INSERT; the retry then finds it.
        for attempt in (1, 2):
            try:
                with session.begin_nested():
                    return index_instance(session, item)
            except IntegrityError as exc:
                if attempt == 2:
                    log.error("could not index instance: %s", exc.orig)
                    return IndexUnavailable("index constraint violated")
            except OperationalError:
                raise
        return IndexUnavailable("unreachable")

    def _discard(self, key: str) -> None:
        try:
            self._store.delete(key)
        except OSError as exc:
            log.error("could not remove unindexed file %s: %s", key, exc)
