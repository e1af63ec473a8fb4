"""Storage Commitment SCP (PS3.4 J.3): N-ACTION now, N-EVENT-REPORT later on a new association.

The N-ACTION is answered once the request is persisted. A reporter thread per process then
checks the referenced instances (``pacs.commitment``) and sends the N-EVENT-REPORT to the
requester's registered address (``lienthong ae add``), as SCP by role selection. A request
whose report cannot be delivered stays pending and is retried every
``commitment.retry_interval`` seconds, also after a restart. Every worker process runs a
reporter; a claim on a request names its reporter, so one report goes out once, and a claim
left by a killed worker is taken over when its lease (``commitment.claim_lease``) ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
from typing import cast

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role
from pynetdicom.dimse_primitives import N_ACTION
from pynetdicom.events import Event
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pacs.archive import Archive
from pacs.commitment import (
    CommitmentResult,
    check_references,
    claim_pending,
    mark_reported,
    mark_retry,
    release_own_claims,
    release_stale_claims,
    save_request,
)
from pacs.peers import Peer, find_peer

log = logging.getLogger(__name__)

# The well-known SOP Instance of the Storage Commitment Push Model (PS3.4 J.3.5).
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
REQUEST_COMMITMENT = 1  # Action Type ID (J.3.2.1)
ALL_COMMITTED, SOME_FAILED = 1, 2  # Event Type ID (J.3.3.1)
NO_SUCH_ACTION_TYPE, MISSING_ATTRIBUTE, PROCESSING_FAILURE = 0x0123, 0x0120, 0x0110


class ReportNotDelivered(Exception):
    """The N-EVENT-REPORT could not be sent or was not acknowledged."""


def report_dataset(result: CommitmentResult) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = result.transaction_uid
    if result.committed:
        ds.ReferencedSOPSequence = [_reference(c, i) for c, i in result.committed]
    if result.failed:
        failed = []
        for sop_class, sop_instance, reason in result.failed:
            item = _reference(sop_class, sop_instance)
            item.FailureReason = reason
            failed.append(item)
        ds.FailedSOPSequence = failed
    return ds


def _reference(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


def send_report(ae_title: str, peer: Peer, result: CommitmentResult, timeout: float) -> None:
    """Deliver one N-EVENT-REPORT; raises ReportNotDelivered."""
    ae = AE(ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc = ae.associate(
        peer.host,
        peer.port,
        ae_title=peer.ae_title,
        ext_neg=[build_role(StorageCommitmentPushModel, scu_role=False, scp_role=True)],
    )
    if not assoc.is_established:
        raise ReportNotDelivered(f"association with {peer.ae_title} not established")
    try:
        event_type = SOME_FAILED if result.failed else ALL_COMMITTED
        status, _ = assoc.send_n_event_report(
            report_dataset(result), event_type, StorageCommitmentPushModel, COMMITMENT_INSTANCE
        )
    except (ValueError, RuntimeError) as exc:
        raise ReportNotDelivered(str(exc)) from exc
    finally:
        if assoc.is_established:
            assoc.release()
    code = int(status.Status) if "Status" in status else -1
    if code != 0x0000:
        raise ReportNotDelivered(f"{peer.ae_title} answered 0x{code & 0xFFFF:04X}")


class CommitmentReporter:
    """The per-process thread that answers pending commitment requests."""

    def __init__(self, archive: Archive, writes: sessionmaker[Session]) -> None:
        self.archive = archive
        self.writes = writes
        self.interval = archive.settings.commitment.retry_interval
        self.lease = dt.timedelta(seconds=archive.settings.commitment.claim_lease)
        # Who claims a request: unique per reporter, so a restarted worker (same pid on another
        # boot, or a new process) never mistakes another reporter's claim for its own.
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stgcmt-reporter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        try:
            with self.writes.begin() as session:
                release_own_claims(session, self.owner)
        except SQLAlchemyError:
            log.warning("could not hand back storage commitment claims at stop; they are taken "
                        "over when their lease ends")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_pending()
            except Exception:  # the thread must survive a database outage; it retries
                log.exception("storage commitment reporter failed; retrying")
            self._wake.wait(self.interval)
            self._wake.clear()

    def deliver_pending(self) -> int:
        """Send every pending report once; returns how many were delivered."""
        with self.writes.begin() as session:
            released = release_stale_claims(session, self.lease)
            claimed = [(r.id, r.transaction_uid) for r in claim_pending(session, self.owner)]
        if released:
            log.warning("%d storage commitment report(s) taken over from a reporter that "
                        "stopped without finishing them", released)
        delivered = 0
        for request_id, transaction_uid in claimed:
            try:
                self._deliver(request_id)
            except ReportNotDelivered as exc:
                log.warning("commitment report %s not delivered: %s", transaction_uid, exc)
                with self.writes.begin() as session:
                    mark_retry(session, request_id, str(exc), self.owner)
                continue
            except Exception:
                with self.writes.begin() as session:
                    mark_retry(session, request_id, "unexpected error", self.owner)
                raise
            with self.writes.begin() as session:
                mark_reported(session, request_id, self.owner)
            delivered += 1
        return delivered

    def _deliver(self, request_id: int) -> None:
        from pacs.orders.models import CommitmentRequest

        with self.archive.sessions() as session:
            request = session.get(CommitmentRequest, request_id)
            assert request is not None
            result = check_references(session, self.archive.store, request)
            peer = find_peer(session, request.calling_ae_title)
        if peer is None:
            raise ReportNotDelivered(f"{request.calling_ae_title} is not a registered peer")
        send_report(self.archive.settings.dicom.ae_title, peer, result,
                    self.archive.settings.dicom.network_timeout)
        log.info("commitment %s reported to %s: %d committed, %d failed",
                 result.transaction_uid, peer.ae_title, len(result.committed),
                 len(result.failed))


def handle_n_action(
    event: Event, writes: sessionmaker[Session], reporter: CommitmentReporter
) -> tuple[int, Dataset | None]:
    """N-ACTION Request Storage Commitment (J.3.2): 0x0000 once persisted; 0x0123 unknown
    action type; 0x0120 missing Transaction UID or references; 0x0110 processing failure."""
    calling = event.assoc.requestor.ae_title.strip()
    request = cast(N_ACTION, event.request)
    if request.ActionTypeID != REQUEST_COMMITMENT:
        return NO_SUCH_ACTION_TYPE, None
    try:
        info = cast(Dataset, event.action_information)
        transaction_uid = str(info.get("TransactionUID") or "").strip()
        references = [
            (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
            for item in info.get("ReferencedSOPSequence") or []
        ]
    except Exception:
        log.warning("storage commitment from %s: undecodable action information", calling)
        return PROCESSING_FAILURE, None
    if not transaction_uid or not references:
        return MISSING_ATTRIBUTE, None
    try:
        with writes.begin() as session:
            new = save_request(session, transaction_uid, calling, references)
    except Exception:
        log.exception("storage commitment from %s could not be saved", calling)
        return PROCESSING_FAILURE, None
    log.info("storage commitment %s from %s: %d instance(s)%s", transaction_uid, calling,
             len(references), "" if new else " (re-sent)")
    reporter.notify()
    return 0x0000, None
