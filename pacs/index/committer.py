"""Group commit: many associations' prepared instances made durable and indexed together.

Each association thread prepares its instance (parse, check, file written and renamed into
place) in parallel, then hands it to its process's committer and waits. Two threads form a
pipeline: the sync thread drains what is queued (up to ``batch`` items) and makes their files
and folders durable (one journal flush covers the batch); the index thread takes synced
batches, indexes them in one transaction (one by one if a concurrent writer got in the way),
commits once (one WAL fsync for all of them) and only then releases the waiters. The two
flushes of consecutive batches overlap, and nothing is indexed before its file is durable or
acknowledged before its commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pacs.errors import IndexUnavailable, StorageUnavailable
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
        self._synced: queue.Queue[_Job | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run_sync, name="index-sync", daemon=True),
            threading.Thread(target=self._run_index, name="index-committer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, item: PreparedInstance) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._queue.put(_Job(item, future))
        return future

    def index(self, item: PreparedInstance, timeout: float = 120.0) -> Outcome:
        """Index one prepared instance and wait for its commit. Raises IndexUnavailable."""
        return self.submit(item).result(timeout)

    def close(self) -> None:
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _run_sync(self) -> None:
        for jobs, last in _batches(self._queue, self._batch):
            for job in self._sync(jobs):
                self._synced.put(job)
            if last:
                self._synced.put(None)
                return

    def _run_index(self) -> None:
        for jobs, last in _batches(self._synced, self._batch):
            if jobs:
                self._commit(jobs)
            if last:
                return

    def _sync(self, jobs: list[_Job]) -> list[_Job]:
        """Make the batch's files durable; the jobs that may be indexed."""
        if not jobs:
            return []
        try:
            self._store.sync([job.item.file_key for job in jobs])
        except StorageUnavailable as exc:
            log.error("could not sync %d instance files: %s", len(jobs), exc.reason)
            for job in jobs:
                self._discard(job.item.file_key)
                job.future.set_exception(exc)
            return []
        return jobs

    def _commit(self, jobs: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Outcome | Exception]] = []
        try:
            with self._sessions.begin() as session:
                for job in jobs:
                    outcomes.append((job, index_instance(session, job.item)))
        except IntegrityError:
            # A concurrent writer (another worker or node) created the same patient, study or
            # series first: redo the batch one instance per transaction, which then finds it.
            outcomes = [(job, self._index_alone(job.item)) for job in jobs]
        except SQLAlchemyError as exc:
            log.error("index transaction failed, %d instances refused: %s", len(jobs), exc)
            outcomes = [(job, IndexUnavailable(f"index unavailable: {type(exc).__name__}"))
                        for job in jobs]
        except Exception:
            # Not a database fault: find the instance that causes it, keep the others.
            log.exception("indexing a batch failed; retrying its instances one by one")
            outcomes = [(job, self._index_alone(job.item)) for job in jobs]
        for job, outcome in outcomes:
            if isinstance(outcome, Exception):
                # Durable but unindexed: remove it so that no orphan stays behind.
                self._discard(job.item.file_key)
                job.future.set_exception(outcome)
                continue
            if outcome is Outcome.DUPLICATE:
                self._discard(job.item.file_key)
            job.future.set_result(outcome)

    def _index_alone(self, item: PreparedInstance) -> Outcome | Exception:
        for attempt in (1, 2):
            try:
                with self._sessions.begin() as session:
                    return index_instance(session, item)
            except IntegrityError as exc:
                if attempt == 2:
                    log.error("could not index instance: %s", exc.orig)
                    return IndexUnavailable("index constraint violated")
            except SQLAlchemyError as exc:
                return IndexUnavailable(f"index unavailable: {type(exc).__name__}")
            except Exception as exc:  # the boundary: the handler answers 0xC211 for it
                log.exception("could not index instance")
                return exc
        return IndexUnavailable("index constraint violated")

    def _discard(self, key: str) -> None:
        try:
            self._store.delete(key)
        except OSError as exc:
            log.error("could not remove unindexed file %s: %s", key, exc)


def _batches(jobs: queue.Queue[_Job | None], size: int) -> Iterator[tuple[list[_Job], bool]]:
    """What is queued, up to `size` jobs at a time (waiting for the first); True with the
    last batch, once the end-of-work marker (None) was taken."""
    while True:
        first = jobs.get()
        if first is None:
            yield [], True
            return
        batch = [first]
        while len(batch) < size:
            try:
                nxt = jobs.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                yield batch, True
                return
            batch.append(nxt)
        yield batch, False
