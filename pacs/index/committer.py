"""Group commit: many associations' prepared instances made durable and indexed together.

Each association thread prepares its instance (parse, check, file written and renamed into
place) in parallel, then hands it to its process's committer and waits. Two threads form a
pipeline, an index thread (one transaction per batch, one by one if a concurrent writer got in
the way) and a sync thread (one flush for a batch), in one of two orders:

* Files first (the general case): the sync thread makes a batch's files and folders durable,
  then the index thread commits them with a durable commit and releases the waiters. Nothing
  is ever indexed before its file is durable.
* One flush (SQLite on the storage volume, synced with syncfs): the index thread commits first
  without waiting for the disk, and marks each new file in the same transaction
  (UnflushedFile); the sync thread's next flush of the volume, which starts after the commit,
  makes the files and the commit durable together, and only then are the waiters released. A
  later transaction drops the marks. One flush per instance instead of two; a crash between
  the commit and the flush can leave a row whose file did not reach the disk, never an
  acknowledged one, and pacs.repair checks every marked file before the next start serves.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pacs.errors import IndexUnavailable, StorageUnavailable
from pacs.index.ingest import Outcome, PreparedInstance, index_instance
from pacs.index.models import UnflushedFile
from pacs.storage.base import InstanceStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class _Job:
    item: PreparedInstance
    future: Future[Outcome]


@dataclass
class _Committed:
    """An indexed job whose commit the next flush of the file system makes durable."""

    job: _Job
    outcome: Outcome


# Outcomes that leave a new file in the store (a duplicate's file is removed).
_MARKED = (Outcome.STORED, Outcome.QUARANTINED)


class _Marker(enum.Enum):
    CLOSE = "close"  # no more submissions
    INDEX_DONE = "index done"  # the index thread has committed everything handed to it


class GroupCommitter:
    """Serialises index writes of one process and commits them in batches.

    ``commits_flushed_by_sync`` selects the one-flush order (module docstring): for SQLite on
    the storage volume synced with syncfs, where one flush of the volume covers both the files
    and the commit. The SQLite write lock, shared by every worker process, is then held for the
    transaction only, not for an fsync.
    """

    def __init__(self, sessions: sessionmaker[Session], store: InstanceStore, batch: int, *,
                 commits_flushed_by_sync: bool = False) -> None:
        self._sessions = sessions
        self._store = store
        self._batch = batch
        self._one_flush = commits_flushed_by_sync
        self._to_sync: queue.Queue[_Job | _Committed | _Marker] = queue.Queue()
        self._to_index: queue.Queue[_Job | _Marker] = queue.Queue()
        # Files flushed since the last transaction: their UnflushedFile marks go in the next.
        self._flushed: list[str] = []
        self._flushed_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run_sync, name="index-sync", daemon=True),
            threading.Thread(target=self._run_index, name="index-committer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _enter(self, item: _Job | _Marker) -> None:
        # Files first: new jobs go to the sync thread; one flush: straight to the index thread.
        if self._one_flush:
            self._to_index.put(item)
        else:
            self._to_sync.put(item)

    def submit(self, item: PreparedInstance) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._enter(_Job(item, future))
        return future

    def index(self, item: PreparedInstance, timeout: float = 120.0) -> Outcome:
        """Index one prepared instance and wait for its commit. Raises IndexUnavailable."""
        return self.submit(item).result(timeout)

    def close(self) -> None:
        self._enter(_Marker.CLOSE)
        for thread in self._threads:
            thread.join(timeout=30)

    def _run_sync(self) -> None:
        closing = False
        while True:
            items = _drain(self._to_sync, self._batch)
            new = [i for i in items if isinstance(i, _Job)]
            done = [i for i in items if isinstance(i, _Committed)]
            self._flush(new, done)
            if _Marker.CLOSE in items and not closing:
                closing = True
                self._to_index.put(_Marker.CLOSE)
            if _Marker.INDEX_DONE in items:
                return

    def _run_index(self) -> None:
        while True:
            items = _drain(self._to_index, self._batch)
            jobs = [i for i in items if isinstance(i, _Job)]
            if jobs:
                for job, outcome in self._commit(jobs):
                    if self._one_flush and not isinstance(outcome, Exception):
                        self._to_sync.put(_Committed(job, outcome))
                    else:
                        self._release(job, outcome)
            if _Marker.CLOSE in items:
                self._to_sync.put(_Marker.INDEX_DONE)
                return

    def _flush(self, new: list[_Job], done: list[_Committed]) -> None:
        """One flush: the new jobs' files (then hand them to the index thread) and the commits
        of ``done`` (then release their waiters)."""
        if not new and not done:
            return
        try:
            if new:
                self._store.sync([job.item.file_key for job in new])
            else:
                self._store.flush()
        except StorageUnavailable as exc:
            log.error("could not sync %d instance files and %d commits: %s", len(new),
                      len(done), exc.reason)
            for job in new:
                self._discard(job.item.file_key)
                job.future.set_exception(exc)
            for committed in done:  # indexed, but not known to be durable: not acknowledged
                committed.job.future.set_exception(exc)
            return
        marked = [c.job.item.file_key for c in done if c.outcome in _MARKED]
        if marked:
            with self._flushed_lock:
                self._flushed.extend(marked)
        for committed in done:
            self._release(committed.job, committed.outcome)
        for job in new:
            self._to_index.put(job)

    def _commit(self, jobs: list[_Job]) -> list[tuple[_Job, Outcome | Exception]]:
        outcomes: list[tuple[_Job, Outcome | Exception]] = []
        flushed = self._take_flushed()
        try:
            with self._sessions.begin() as session:
                if flushed:
                    session.execute(delete(UnflushedFile)
                                    .where(UnflushedFile.file_key.in_(flushed)))
                for job in jobs:
                    outcomes.append((job, index_instance(session, job.item)))
                self._mark(session, [(job.item.file_key, outcome) for job, outcome in outcomes])
            return outcomes
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
        self._give_back(flushed)  # rolled back: their marks go with a later transaction
        return outcomes

    def _mark(self, session: Session, outcomes: list[tuple[str, Outcome | Exception]]) -> None:
        """In the one-flush order, mark the files this transaction indexes (not yet durable)."""
        keys = [key for key, outcome in outcomes if outcome in _MARKED]
        if self._one_flush and keys:
            session.execute(insert(UnflushedFile), [{"file_key": key} for key in keys])

    def _take_flushed(self) -> list[str]:
        with self._flushed_lock:
            taken, self._flushed = self._flushed, []
        return taken

    def _give_back(self, keys: list[str]) -> None:
        if keys:
            with self._flushed_lock:
                self._flushed.extend(keys)

    def _release(self, job: _Job, outcome: Outcome | Exception) -> None:
        if isinstance(outcome, Exception):
            # Durable but unindexed: remove it so that no orphan stays behind.
            self._discard(job.item.file_key)
            job.future.set_exception(outcome)
            return
        if outcome is Outcome.DUPLICATE:
            self._discard(job.item.file_key)
        job.future.set_result(outcome)

    def _index_alone(self, item: PreparedInstance) -> Outcome | Exception:
        for attempt in (1, 2):
            try:
                with self._sessions.begin() as session:
                    outcome = index_instance(session, item)
                    self._mark(session, [(item.file_key, outcome)])
                    return outcome
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



def _drain(items: queue.Queue[_T], size: int) -> list[_T]:
    """What is queued, up to `size` items (waiting for the first one)."""
    batch = [items.get()]
    while len(batch) < size:
        try:
            batch.append(items.get_nowait())
        except queue.Empty:
            break
    return batch
