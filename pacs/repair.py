"""Start-up check of the files indexed before the flush that made them durable.

In the one-flush order (pacs.index.committer) an instance's row is committed first and its
file and the commit reach the disk together in the next flush; the row carries an
UnflushedFile mark until a later transaction. After a crash a marked row may point at a file
that never reached the disk, or reached it cut short. Such an instance was never acknowledged:
its row and file go. Every other marked file is read back whole and its digest compared before
its mark is dropped. Runs before anything is served, so no row ever points at a missing file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select

from lienthong.db import make_sessionmaker, writer_engine
from pacs.errors import PacsError
from pacs.index.models import Instance, QuarantinedInstance, UnflushedFile
from pacs.index.unindex import unindex_instance
from pacs.recovery import prepare_stored_file
from pacs.storage.base import InstanceStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairReport:
    checked: int
    removed: int


def _digest(store: InstanceStore, key: str) -> str | None:
    """The stored file's dataset digest, or None if it is missing or does not parse."""
    try:
        return prepare_stored_file(store, key).sha256
    except (PacsError, ValueError, OSError):
        return None


def repair_unflushed(engine: Engine, store: InstanceStore) -> RepairReport:
    """Check every marked file; remove the rows (and files) of those not intact."""
    sessions = make_sessionmaker(writer_engine(engine))
    damaged: list[str] = []
    with sessions.begin() as session:
        keys = list(session.scalars(select(UnflushedFile.file_key)))
        for key in keys:
            instance = session.scalar(select(Instance).where(Instance.file_key == key))
            quarantined = session.scalar(
                select(QuarantinedInstance).where(QuarantinedInstance.file_key == key))
            row = instance or quarantined
            if row is None or _digest(store, key) == row.sha256:
                continue
            log.error("removing instance file %s and its index row: the file did not reach the "
                      "disk before an unclean stop (never acknowledged)", key)
            if instance is not None:
                unindex_instance(session, instance)
            else:
                session.delete(quarantined)
            damaged.append(key)
        session.execute(delete(UnflushedFile).where(UnflushedFile.file_key.in_(keys)))
    for key in damaged:  # after the commit, so that no row ever points at a removed file
        store.delete(key)
    return RepairReport(len(keys), len(damaged))
