"""Submission and acknowledgement tracking (spec §9.4, §9.5; reliability G10/G11).

States of a ClaimExport: ``written`` → ``sending`` (committed before the call) → ``submitted``
(portal receipt maGiaoDich stored) → ``accepted`` / ``rejected``. A file is never sent twice by
this code: a row left in ``sending`` (the process died or the connection dropped after the
request left) is not re-sent automatically but flagged as uncertain, because the portal may have
received it and its QĐ 130 API offers no way to ask (§9.5); an operator resolves it on the portal
UI and re-queues it with ``claims requeue``. Only one version of an episode is in flight at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from claims.portal.client import PortalClient, PortalError
from claims.records.models import ClaimEpisode, ClaimExport

IN_FLIGHT = ("sending", "submitted")


@dataclass
class SubmitReport:
    submitted: int = 0
    refused: int = 0
    uncertain: list[str] = field(default_factory=list)
    deferred: int = 0
    stopped: str = ""


def _pending(session: Session, day: dt.date) -> list[tuple[ClaimExport, str]]:
    rows = session.execute(
        select(ClaimExport, ClaimEpisode.ma_lk).join(ClaimEpisode)
        .where(ClaimEpisode.closed_on == day).order_by(ClaimExport.id)).all()
    return [(e, lk) for e, lk in rows]


def submit_day(sessions: sessionmaker[Session], client: PortalClient, outbox: Path,
               day: dt.date) -> SubmitReport:
    """Send every written, not yet sent file of episodes closed on ``day``."""
    report = SubmitReport()
    folder = outbox / day.strftime("%Y%m%d")
    with sessions() as session:
        rows = _pending(session, day)
    in_flight = {e.episode_fk for e, _ in rows if e.status in IN_FLIGHT}
    report.uncertain = [lk for e, lk in rows if e.status == "sending"]
    for export, ma_lk in rows:
        if export.status != "written":
            continue
        if export.episode_fk in in_flight:
            report.deferred += 1
            continue
        data = (folder / export.file_name).read_bytes()
        if hashlib.sha256(data).hexdigest() != export.file_sha256:
            raise RuntimeError(f"{export.file_name} differs from the exported file; re-export")
        with sessions.begin() as session:
            current = session.get(ClaimExport, export.id)
            if current is None or current.status != "written":
                continue
            current.status = "sending"
        try:
            receipt = client.submit(data)
        except PortalError as exc:
            # Refused or answered 5xx: not received, send again next run. No answer: the portal
            # may have it and cannot be asked (§9.5), so the file is flagged, never re-sent.
            with sessions.begin() as session:
                current = session.get(ClaimExport, export.id)
                if current is not None:
                    current.portal_message = str(exc)
                    if not exc.maybe_received:
                        current.status = "written"
            if exc.maybe_received:
                report.uncertain.append(ma_lk)
            report.stopped = str(exc)
            break
        with sessions.begin() as session:
            current = session.get(ClaimExport, export.id)
            if current is None:
                continue
            current.portal_message = receipt.thong_diep
            if receipt.received:
                current.status, current.portal_transaction = "submitted", receipt.ma_giao_dich
                report.submitted += 1
                in_flight.add(export.episode_fk)
            elif receipt.ma_ket_qua in ("401", "403"):
                current.status = "written"  # not received: safe to send again later
                report.stopped = f"portal refused access ({receipt.ma_ket_qua})"
                break
            else:
                current.status = "rejected"
                report.refused += 1
    return report


def refresh_acknowledgements(sessions: sessionmaker[Session], client: PortalClient) -> int:
    """Ask the portal about every submitted file; returns how many changed state."""
    with sessions() as session:
        waiting = list(session.scalars(select(ClaimExport).where(
            ClaimExport.status == "submitted")).all())
    changed = 0
    for export in waiting:
        ack = client.acknowledgement(export.portal_transaction)
        if ack.state == "waiting":
            continue
        with sessions.begin() as session:
            current = session.get(ClaimExport, export.id)
            if current is not None and current.status == "submitted":
                current.status = ack.state
                current.portal_message = "; ".join(ack.errors)
                changed += 1
    return changed


def requeue(session: Session, ma_lk: str) -> bool:
    """Put an uncertain (``sending``) file of ``ma_lk`` back to ``written`` after the operator
    checked on the portal that it was not received. Returns whether a file was re-queued."""
    row = session.execute(select(ClaimExport).join(ClaimEpisode).where(
        ClaimEpisode.ma_lk == ma_lk, ClaimExport.status == "sending")).scalars().first()
    if row is None:
        return False
    row.status = "written"
    return True
