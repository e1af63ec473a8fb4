"""Group commit: many associations' prepared instances made durable and indexed together.

Each association thread prepares its instance (parse, check, file written and renamed into
place) in parallel, then hands it to its process's committer and waits. Two threads form a
pipeline: the sync thread drains what is queued (up to ``batch`` items, waiting a few ms for
instances of the process that are still being prepared) and makes their files and folders
durable (one journal flush covers the batch); the index thread takes synced
batches, indexes them in one transaction (one by one if a concurrent writer got in the way),
commits once (one WAL fsync for all of them; or none, and the sync thread's next flush makes
the commit durable: see GroupCommitter) and only then releases the waiters. The flushes of
consecutive batches overlap, and nothing is indexed before its file is durable or acknowledged
before its commit is.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pacs.errors import IndexUnavailable, StorageUnavailable
from pacs.index.ingest import Outcome, PreparedInstance, index_instance
from pacs.storage.base import InstanceStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# How long the sync thread may hold a batch open for instances of this process that were being
# prepared (parsed, written) when it took the batch. A transaction and a flush cost the same
# for one instance as for several (in the running server about 0.9 ms of CPU per index
# transaction against 0.05 ms per instance in it), and with two associations per worker most
# batches held one instance. The wait is bounded by the instances already in preparation, so a
# lone association never waits (as PostgreSQL's commit_delay waits only with commit_siblings).
GATHER_S = 0.005


@dataclass
class _Job:
    item: PreparedInstance
    future: Future[Outcome]


@dataclass
class _Committed:
    """An indexed job whose commit the next flush of the file system makes durable."""

    job: _Job
    outcome: Outcome


class _Marker(enum.Enum):
    CLOSE = "close"  # no more submissions
    INDEX_DONE = "index done"  # the index thread has committed everything handed to it


class GroupCommitter:
    """Serialises index writes of one process and commits them in batches.

    With ``commits_flushed_by_sync`` (SQLite on the storage volume, synced with syncfs) the
    index commits do not wait for the disk: the sync thread's next flush of the volume, which
    starts after the commit, makes it durable together with the next batch's files, and only
    then are its waiters released. One flush per batch instead of two, and the SQLite write
    lock, shared by every worker process, is held for the transaction only, not for an fsync.
    """

    def __init__(self, sessions: sessionmaker[Session], store: InstanceStore, batch: int, *,
                 commits_flushed_by_sync: bool = False) -> None:
        self._sessions = sessions
        self._store = store
        self._batch = batch
        self._flush_commits = commits_flushed_by_sync
        self._preparing = 0  # instances being prepared that will be submitted (see ingest)
        self._preparing_lock = threading.Lock()
        self._queue: queue.Queue[_Job | _Committed | _Marker] = queue.Queue()
        self._synced: queue.Queue[_Job | _Marker] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run_sync, name="index-sync", daemon=True),
            threading.Thread(target=self._run_index, name="index-committer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def ingest(self, prepare: Callable[[], PreparedInstance], timeout: float = 120.0) -> Outcome:
        """Prepare an instance (``prepare`` raises what it raises), then index it and wait for
        its commit. While it is prepared, the sync thread may wait for it to join the batch
        of another instance of this process."""
        with self._preparing_lock:
            self._preparing += 1
        try:
            item = prepare()
        finally:
            # Before the submission: the sync thread never waits for an instance already queued.
            with self._preparing_lock:
                self._preparing -= 1
        return self.index(item, timeout)

    def submit(self, item: PreparedInstance) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._queue.put(_Job(item, future))
        return future

    def index(self, item: PreparedInstance, timeout: float = 120.0) -> Outcome:
        """Index one prepared instance and wait for its commit. Raises IndexUnavailable."""
        return self.submit(item).result(timeout)

    def close(self) -> None:
        self._queue.put(_Marker.CLOSE)
        for thread in self._threads:
            thread.join(timeout=30)

    def _run_sync(self) -> None:
        closing = False
        while True:
            items = self._gather()
            new = [i for i in items if isinstance(i, _Job)]
            done = [i for i in items if isinstance(i, _Committed)]
            self._flush(new, done)
            if _Marker.CLOSE in items and not closing:
                closing = True
                self._synced.put(_Marker.CLOSE)
            if _Marker.INDEX_DONE in items:
                return

    def _gather(self) -> list[_Job | _Committed | _Marker]:
        """What is queued, and, when that holds new instances, those that were being prepared
        at that moment, waiting up to GATHER_S for them."""
        items = _drain(self._queue, self._batch)
        expected = self._preparing if any(isinstance(i, _Job) for i in items) else 0
        deadline = time.monotonic() + GATHER_S
        while expected > 0 and len(items) < self._batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            items.append(item)
            if isinstance(item, _Job):
                expected -= 1
            elif item is _Marker.CLOSE:
                break
        return items

    def _run_index(self) -> None:
        while True:
            items = _drain(self._synced, self._batch)
            jobs = [i for i in items if isinstance(i, _Job)]
            if jobs:
                for job, outcome in self._commit(jobs):
                    if self._flush_commits and not isinstance(outcome, Exception):
                        self._queue.put(_Committed(job, outcome))
                    else:
                        self._release(job, outcome)
            if _Marker.CLOSE in items:
                self._queue.put(_Marker.INDEX_DONE)
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
        for committed in done:
            self._release(committed.job, committed.outcome)
        for job in new:
            self._synced.put(job)

    def _commit(self, jobs: list[_Job]) -> list[tuple[_Job, Outcome | Exception]]:
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
        return outcomes

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



def _drain(items: queue.Queue[_T], size: int) -> list[_T]:
    """What is queued, up to `size` items (waiting for the first one)."""
    batch = [items.get()]
    while len(batch) < size:
        try:
            batch.append(items.get_nowait())
        except queue.Empty:
            break
    return batch
