"""Start-up recovery after an unclean stop.

The write order (file written and renamed, batch fsync, index commit, then Success) means a
crash can leave only two kinds of debris: temporary files (swept) and files whose index commit
never happened. Those were never acknowledged; the complete ones are valid instances, so they
are indexed now through the same path as a C-STORE, and the ones cut short before their fsync
fail the strict check and are removed.
"""

from __future__ import annotations

import hashlib
import io
import logging

from pydicom.filereader import _read_file_meta_info, read_preamble
from sqlalchemy import select, union_all

from pacs.archive import Archive
from pacs.errors import PacsError
from pacs.index.attributes import extract_attributes
from pacs.index.ingest import PreparedInstance, parse_dataset
from pacs.index.models import Instance, QuarantinedInstance

log = logging.getLogger(__name__)


def prepare_stored_file(archive: Archive, key: str) -> PreparedInstance:
    """Re-read a file already in the store and prepare it for indexing under its own key."""
    with archive.store.open(key) as fp:
        raw = fp.read()
    buffer = io.BytesIO(raw)
    read_preamble(buffer, force=False)
    meta = _read_file_meta_info(buffer)
    encoded = raw[buffer.tell() :]
    ts = str(meta.TransferSyntaxUID)
    parsed = parse_dataset(encoded, ts)
    return PreparedInstance(
        attributes=extract_attributes(parsed.dataset),
        transfer_syntax_uid=ts,
        file_key=key,
        size_bytes=len(raw),
        sha256=hashlib.sha256(encoded).hexdigest(),
        metadata_json=parsed.metadata_json,
        calling_ae_title=str(meta.get("SourceApplicationEntityTitle", "")).strip(),
    )


def recover_orphans(archive: Archive, before: float) -> int:
    """Index files written before `before` (a timestamp) that have no index row."""
    with archive.sessions() as session:
        known = set(
            session.scalars(
                union_all(select(Instance.file_key), select(QuarantinedInstance.file_key))
            )
        )
    recovered = 0
    for key in archive.store.keys_older_than(before):
        if key in known:
            continue
        try:
            prepared = prepare_stored_file(archive, key)
        except (PacsError, ValueError, OSError) as exc:
            # Never acknowledged, and incomplete (a write cut short by the crash before its
            # group fsync): nothing to keep.
            log.error("removing unindexed, unreadable file %s: %s", key, exc)
            archive.store.delete(key)
            continue
        try:
            outcome = archive.committer.index(prepared)
        except PacsError as exc:
            log.error("orphan file %s could not be indexed: %s", key, exc.reason)
            continue
        recovered += 1
        log.warning("indexed orphan file %s left by an interrupted store (%s)", key, outcome.value)
    return recovered
