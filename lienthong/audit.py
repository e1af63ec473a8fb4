"""The audit trail: an append-only table of access decisions, linked by a SHA-256 hash chain.

Every row stores ``row_hash = sha256(canonical content + prev_hash)`` where ``prev_hash`` is the
previous row's ``row_hash`` (64 zeros for the first row) and ``seq`` counts rows from 1. Changing,
deleting or inserting a row anywhere breaks the chain, which ``verify_chain`` detects; cutting
rows off the end is detected against the chain head (``audit_chain_head``), which holds the last
``seq`` and hash.

Appends are serialised so that concurrent writers never fork the chain: ``record`` locks the
single chain-head row with ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the caller's session
must come from ``lienthong.db.writer_engine`` or ``relaxed_writer_engine`` (``BEGIN IMMEDIATE``
takes the database write lock before the head is read). The audit rows of reads are committed
through ``relaxed_writer_engine``, whose commits do not wait for the disk (see ``lienthong.db``):
committed before the data leaves, lost only as a tail of the chain on power loss. As a last
line of defence ``seq`` and ``prev_hash`` are unique, so a fork cannot be committed even by a caller
that gets the locking wrong. The migration adds triggers that refuse UPDATE and DELETE on
``audit_event``.

This module is used by the HTTP gateway and by the DICOM services alike (``actor_kind``
"user", "api_key" or "dicom_ae"). It never commits: the caller frames the transaction, and if the
audit write fails the caller's request must fail too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from sqlalchemy import Integer, String, Table, Text, bindparam, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from lienthong.db import Base, DicomUID, utcnow

GENESIS_HASH = "0" * 64
CHAIN_HEAD_ID = 1


class Outcome(StrEnum):
    """EventOutcomeIndicator of DICOM PS3.15 A.5.1 (0 success, 4 minor, 8 serious, 12 major)."""

    SUCCESS = "success"
    DENIED = "denied"  # authentication or authorisation refused: minor failure (4)
    FAILURE = "failure"  # the action was attempted and failed: serious failure (8)


class AuditEvent(Base):
    """One audited decision or access. Rows are only ever inserted."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    occurred_at: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[str] = mapped_column(String(200), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64), default="")
    study_instance_uid: Mapped[DicomUID | None] = mapped_column(index=True)
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row every append locks: the last ``seq`` and ``row_hash`` of the chain."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)

HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "actor_kind",
    "role",
    "action",
    "outcome",
    "address",
    "study_instance_uid",
    "patient_id",
    "detail",
    "prev_hash",
)


_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: str) -> str:
    """Replace characters that PostgreSQL text or XML cannot hold (NUL, C0 controls, lone
    surrogates) with U+FFFD, so that hostile input is still recorded instead of failing."""
    return _XML_INCOMPATIBLE.sub("\ufffd", value)


def format_time(moment: dt.datetime) -> str:
    """The canonical UTC timestamp stored and hashed (identical on SQLite and PostgreSQL)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hash_values(values: Mapping[str, object]) -> str:
    """SHA-256 of a row's canonical JSON content, which includes the previous row's hash."""
    content = {name: values[name] for name in HASHED_FIELDS}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def compute_hash(event: AuditEvent) -> str:
    """SHA-256 of the row's canonical JSON content, which includes the previous row's hash."""
    return hash_values({name: getattr(event, name) for name in HASHED_FIELDS})


# Built once: every audited request runs these three statements.
_HEAD_ROW = select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == CHAIN_HEAD_ID)
_HEAD_ROW_LOCKED = _HEAD_ROW.with_for_update()
_INSERT_EVENT = insert(_EVENTS)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == CHAIN_HEAD_ID)
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
)


def _lock_head(session: Session) -> tuple[int, str]:
    """The chain head's (last seq, last hash), locked for this transaction."""
    postgres = session.get_bind().dialect.name == "postgresql"
    row = session.execute(_HEAD_ROW_LOCKED if postgres else _HEAD_ROW).first()
    if row is None:  # the migration inserts it; a database made from metadata alone may lack it
        session.execute(
            insert(_HEAD).values(id=CHAIN_HEAD_ID, last_seq=0, last_hash=GENESIS_HASH)
        )
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def record(
    session: Session,
    *,
    actor: str,
    actor_kind: str,
    role: str | None,
    action: str,
    outcome: Outcome | str,
    address: str,
    study_instance_uid: str | None = None,
    patient_id: str | None = None,
    detail: str = "",
    now: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain (written in the session's transaction, not committed).

    ``actor`` is a user name, an API key name or a calling AE title; ``action`` names what was
    attempted (e.g. ``GET /dicomweb/studies`` or ``C-STORE``). Raises whatever the database
    raises; the caller must then refuse the request it was auditing. The returned event is a
    copy of the row, not attached to the session.

    Written with Core statements (one SELECT, one INSERT, one UPDATE): this runs on every
    audited request, and the ORM unit of work would cost more than the statements themselves.
    """
    last_seq, last_hash = _lock_head(session)
    values: dict[str, object] = {
        "seq": last_seq + 1,
        "occurred_at": format_time(now or utcnow()),
        "actor": clean_text(actor[:128]),
        "actor_kind": actor_kind,
        "role": role or "",
        "action": clean_text(action[:200]),
        "outcome": str(Outcome(outcome)),
        "address": clean_text(address[:64]),
        "study_instance_uid": clean_text(study_instance_uid[:64]) if study_instance_uid else None,
        "patient_id": clean_text(patient_id[:64]) if patient_id else None,
        "detail": clean_text(detail),
        "prev_hash": last_hash,
    }
    values["row_hash"] = hash_values(values)
    session.execute(_INSERT_EVENT, values)
    session.execute(_MOVE_HEAD, {"new_seq": values["seq"], "new_hash": values["row_hash"]})
    return AuditEvent(**values)


def record_committed(sessions: sessionmaker[Session], **fields: object) -> AuditEvent:
    """``record`` in its own transaction, committed before returning (for DICOM handlers).

    ``sessions`` must take the write lock at BEGIN on SQLite: bound to
    ``lienthong.db.relaxed_writer_engine(...)`` for the audit rows of reads, or
    ``writer_engine(...)``.
    """
    with sessions.begin() as session:
        return record(session, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ChainBreak:
    """The first row where the chain does not verify, and why."""

    seq: int
    event_id: int | None
    reason: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _events_in_order(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain from the first row; report the first row that does not verify."""
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    for event in _events_in_order(session):
        count += 1
        if event.seq != expected_seq:
            return ChainReport(count, ChainBreak(expected_seq, None, "row missing (gap in seq)"))
        if event.prev_hash != expected_prev:
            return ChainReport(
                count, ChainBreak(event.seq, event.id, "prev_hash does not match the previous row")
            )
        if compute_hash(event) != event.row_hash:
            return ChainReport(
                count, ChainBreak(event.seq, event.id, "content does not match row_hash")
            )
        expected_prev, expected_seq = event.row_hash, expected_seq + 1
    head = session.get(AuditChainHead, CHAIN_HEAD_ID)
    if head is not None and (head.last_seq, head.last_hash) != (expected_seq - 1, expected_prev):
        return ChainReport(
            count,
            ChainBreak(expected_seq, None, f"rows after seq {expected_seq - 1} were removed"),
        )
    return ChainReport(count, None)


@dataclass(frozen=True)
class AuditFilter:
    """Search criteria; every given field must match (times as datetimes, inclusive)."""

    actor: str | None = None
    actor_kind: str | None = None
    action: str | None = None  # prefix match, e.g. "GET /dicomweb"
    outcome: str | None = None
    study_instance_uid: str | None = None
    patient_id: str | None = None
    address: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def search_events(
    session: Session,
    criteria: AuditFilter,
    *,
    limit: int,
    offset: int = 0,
    newest_first: bool = True,
) -> list[AuditEvent]:
    """Events matching the criteria, newest first by default."""
    stmt = select(AuditEvent)
    for column, value in (
        (AuditEvent.actor, criteria.actor),
        (AuditEvent.actor_kind, criteria.actor_kind),
        (AuditEvent.outcome, criteria.outcome),
        (AuditEvent.study_instance_uid, criteria.study_instance_uid),
        (AuditEvent.patient_id, criteria.patient_id),
        (AuditEvent.address, criteria.address),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if criteria.action is not None:
        stmt = stmt.where(AuditEvent.action.startswith(criteria.action, autoescape=True))
    if criteria.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= format_time(criteria.since))
    if criteria.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at <= format_time(criteria.until))
    order = AuditEvent.seq.desc() if newest_first else AuditEvent.seq.asc()
    return list(session.scalars(stmt.order_by(order).limit(limit).offset(offset)))
