"""The archive of one process: instance store, index sessions and the group committer.

Built once per process from the settings (``open_archive``) and handed to the DICOM handlers and
the HTTP gateway, so that C-STORE and STOW-RS share one ingest path.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lienthong.db import (
    check_durability,
    make_engine,
    make_sessionmaker,
    relaxed_writer_engine,
    sqlite_file,
    writer_engine,
)
from lienthong.settings import Settings
from pacs.index.committer import GroupCommitter
from pacs.index.ingest import Outcome, prepare_instance
from pacs.storage.filesystem import FilesystemStore


@dataclass
class Archive:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: FilesystemStore
    committer: GroupCommitter

    def ingest(
        self,
        encoded: bytes,
        *,
        transfer_syntax_uid: str,
        sop_class_uid: str,
        sop_instance_uid: str,
        calling_ae_title: str = "",
    ) -> Outcome:
        """Check, store durably and index one instance; returns after the index commit.

        Raises UndecodableDataset, DatasetMismatch, StorageUnavailable or IndexUnavailable.
        """
        return self.committer.ingest(functools.partial(
            prepare_instance,
            self.store,
            encoded,
            transfer_syntax_uid=transfer_syntax_uid,
            sop_class_uid=sop_class_uid,
            sop_instance_uid=sop_instance_uid,
            calling_ae_title=calling_ae_title,
        ))

    def close(self) -> None:
        self.committer.close()
        self.engine.dispose()


def open_store(settings: Settings) -> FilesystemStore:
    return FilesystemStore(
        settings.objects_dir,
        settings.tmp_dir,
        min_free_bytes=settings.storage.min_free_bytes,
        sync_filesystem=settings.storage.sync == "filesystem",
    )


def open_archive(settings: Settings) -> Archive:
    engine = make_engine(settings.effective_database_url)
    check_durability(engine)
    sessions = make_sessionmaker(engine)
    store = open_store(settings)
    database = sqlite_file(engine)
    # One syncfs of the storage volume makes both the files and the SQLite commits durable when
    # the database is on that volume (the default data folder layout).
    flush_commits = (
        store.sync_filesystem
        and database is not None
        and database.exists()
        and os.stat(database).st_dev == os.stat(store.objects_dir).st_dev
    )
    committer = GroupCommitter(
        make_sessionmaker(
            relaxed_writer_engine(engine) if flush_commits else writer_engine(engine)),
        store,
        batch=settings.storage.commit_batch,
        commits_flushed_by_sync=flush_commits,
    )
    return Archive(settings, engine, sessions, store, committer)
