"""Storage Commitment Push Model (PS3.4 J): what we promise, checked against the disk.

A request is persisted when the N-ACTION arrives (``save_request``) and answered later by an
N-EVENT-REPORT (``pacs.scp.commitment``), so a restart between the two loses nothing. An
instance is committed only if its index row exists with the same SOP class, its file is present,
and the SHA-256 of the dataset bytes after the file meta equals the digest taken at ingest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.filereader import _read_file_meta_info, read_preamble
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from lienthong.db import utcnow
from pacs.index.models import Instance
from pacs.orders.models import CommitmentRequest
from pacs.storage.base import InstanceStore

PENDING, SENDING, REPORTED = "pending", "sending", "reported"

# Failure Reason (0008,1197) values, PS3.4 J.3.3.1.1.
PROCESSING_FAILURE = 0x0110
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119

Reference = tuple[str, str]  # (SOP Class UID, SOP Instance UID)


@dataclass(frozen=True)
class CommitmentResult:
    transaction_uid: str
    calling_ae_title: str
    committed: list[Reference]
    failed: list[tuple[str, str, int]]  # class, instance, failure reason


def save_request(
    session: Session, transaction_uid: str, calling_ae_title: str, references: Sequence[Reference]
) -> bool:
    """Persist a request; False if this Transaction UID is already known (a re-sent N-ACTION)."""
    known = session.scalar(
        select(CommitmentRequest.id).where(CommitmentRequest.transaction_uid == transaction_uid)
    )
    if known is not None:
        return False
    session.add(
        CommitmentRequest(
            transaction_uid=transaction_uid,
            calling_ae_title=calling_ae_title,
            references_json=json.dumps([list(r) for r in references]),
            state=PENDING,
            created_at=utcnow(),
        )
    )
    session.flush()
    return True


def claim_pending(session: Session, owner: str, *, limit: int = 20) -> list[CommitmentRequest]:
    """Take pending requests for ``owner`` (state → sending, stamped with owner and time).

    The conditional UPDATE makes a claim exclusive: every DICOM worker (and every host sharing
    a PostgreSQL index) runs a reporter, and only the one whose UPDATE matched sends the report.
    """
    ids = list(
        session.scalars(
            select(CommitmentRequest.id)
            .where(CommitmentRequest.state == PENDING)
            .order_by(CommitmentRequest.id)
            .limit(limit)
        )
    )
    claimed = []
    now = utcnow()
    for request_id in ids:
        result = session.execute(
            update(CommitmentRequest)
            .where(CommitmentRequest.id == request_id, CommitmentRequest.state == PENDING)
            .values(state=SENDING, claimed_by=owner, claimed_at=now)
        )
        if getattr(result, "rowcount", 0) == 1:
            row = session.get(CommitmentRequest, request_id)
            if row is not None:
                claimed.append(row)
    return claimed


def release_stale_claims(session: Session, lease: dt.timedelta) -> int:
    """Requests claimed longer ago than ``lease`` go back to pending: their reporter died (a
    killed worker, a lost host). A live reporter finishes well within the lease, so a claim
    that another worker is still sending is never taken from it (no duplicate report)."""
    cutoff = utcnow() - lease
    result = session.execute(
        update(CommitmentRequest)
        .where(CommitmentRequest.state == SENDING,
               or_(CommitmentRequest.claimed_at.is_(None), CommitmentRequest.claimed_at < cutoff))
        .values(state=PENDING, claimed_by="")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def release_own_claims(session: Session, owner: str) -> int:
    """At a clean stop: the reporter hands back what it claimed but did not finish."""
    result = session.execute(
        update(CommitmentRequest)
        .where(CommitmentRequest.state == SENDING, CommitmentRequest.claimed_by == owner)
        .values(state=PENDING, claimed_by="")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _dataset_digest(raw: bytes) -> str:
    buffer = io.BytesIO(raw)
    read_preamble(buffer, False)
    _read_file_meta_info(buffer)
    return hashlib.sha256(raw[buffer.tell():]).hexdigest()


def check_references(
    session: Session, store: InstanceStore, request: CommitmentRequest
) -> CommitmentResult:
    """Which referenced instances we hold intact, and why the others fail."""
    references: list[Reference] = [tuple(r) for r in json.loads(request.references_json)]
    rows = {
        row.sop_instance_uid: row
        for row in session.scalars(
            select(Instance).where(Instance.sop_instance_uid.in_([r[1] for r in references]))
        )
    }
    committed: list[Reference] = []
    failed: list[tuple[str, str, int]] = []
    for sop_class, sop_instance in references:
        row = rows.get(sop_instance)
        if row is None:
            failed.append((sop_class, sop_instance, NO_SUCH_OBJECT_INSTANCE))
            continue
        if row.sop_class_uid != sop_class:
            failed.append((sop_class, sop_instance, CLASS_INSTANCE_CONFLICT))
            continue
        try:
            with store.open(row.file_key) as fp:
                digest = _dataset_digest(fp.read())
        except (OSError, ValueError) as exc:
            reason = NO_SUCH_OBJECT_INSTANCE if isinstance(exc, FileNotFoundError) else (
                PROCESSING_FAILURE)
            failed.append((sop_class, sop_instance, reason))
            continue
        if digest != row.sha256:
            failed.append((sop_class, sop_instance, PROCESSING_FAILURE))
            continue
        committed.append((sop_class, sop_instance))
    return CommitmentResult(request.transaction_uid, request.calling_ae_title, committed, failed)


def mark_reported(session: Session, request_id: int, owner: str) -> None:
    session.execute(
        update(CommitmentRequest)
        .where(CommitmentRequest.id == request_id, CommitmentRequest.claimed_by == owner)
        .values(state=REPORTED, reported_at=utcnow(), last_error="", claimed_by="")
    )


def mark_retry(session: Session, request_id: int, error: str, owner: str) -> None:
    session.execute(
        update(CommitmentRequest)
        .where(CommitmentRequest.id == request_id, CommitmentRequest.claimed_by == owner,
               CommitmentRequest.state == SENDING)
        .values(state=PENDING, attempts=CommitmentRequest.attempts + 1, last_error=error[:200],
                claimed_by="")
    )
