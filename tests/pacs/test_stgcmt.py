"""Storage commitment with pynetdicom as the modality: N-ACTION, then an N-EVENT-REPORT on a new
association to the modality's registered address, checked against files and digests, and
delivered after a restart of the archive."""

from __future__ import annotations

import datetime as dt
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore
from sqlalchemy import select, update

from lienthong.db import make_engine, make_sessionmaker, utcnow, writer_engine
from pacs.commitment import (
    claim_pending,
    mark_reported,
    mark_retry,
    release_own_claims,
    release_stale_claims,
    save_request,
)
from pacs.demo import load_demo
from pacs.index.models import Instance
from pacs.orders.models import CommitmentRequest
from tests.support.qr import BACKENDS, RunningScp, backend_url, start_scp
from tests.support.server import free_port

CT = "1.2.840.10008.5.1.4.1.1.2"
WAIT = 30.0


class Modality:
    """The requester's own SCP, which receives the N-EVENT-REPORT (J.3.3)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.reports: queue.Queue[tuple[int, Dataset]] = queue.Queue()
        self.ae = AE("MODALITY")
        self.ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
        self.server: object | None = None

    def _on_report(self, event: Event) -> tuple[int, Dataset | None]:
        self.reports.put((int(event.event_type), event.event_information))
        return 0x0000, None

    def start(self) -> None:
        self.server = self.ae.start_server(
            ("127.0.0.1", self.port), block=False,
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._on_report)],
        )

    def stop(self) -> None:
        self.ae.shutdown()

    def request(self, scp_port: int, transaction_uid: str,
                references: list[tuple[str, str]]) -> int:
        ae = AE("MODALITY")
        ae.add_requested_context(StorageCommitmentPushModel)
        assoc = ae.associate("127.0.0.1", scp_port, ae_title="LIENTHONG")
        assert assoc.is_established
        info = Dataset()
        info.TransactionUID = transaction_uid
        items = []
        for sop_class, sop_instance in references:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_instance
            items.append(item)
        info.ReferencedSOPSequence = items
        try:
            status, _ = assoc.send_n_action(info, 1, StorageCommitmentPushModel,
                                            "1.2.840.10008.1.20.1.1")
        finally:
            assoc.release()
        return int(status.Status)


@pytest.fixture()
def modality() -> Iterator[Modality]:
    peer = Modality()
    yield peer
    peer.stop()


def start(data_dir: Path, modality: Modality, url: str | None = None) -> RunningScp:
    return start_scp(data_dir, url, peers=[("MODALITY", modality.port)],
                     commitment={"retry_interval": 0.5})


def stored_ct(scp: RunningScp) -> list[Instance]:
    with scp.archive.sessions() as session:
        return list(session.scalars(select(Instance).where(Instance.sop_class_uid == CT)
                                    .order_by(Instance.id).limit(4)))


def state_of(scp: RunningScp, transaction: str) -> str | None:
    with scp.archive.sessions() as session:
        return session.scalar(select(CommitmentRequest.state).where(
            CommitmentRequest.transaction_uid == transaction))


def test_report_lists_what_is_intact(tmp_path: Path, modality: Modality) -> None:
    modality.start()
    scp = start(tmp_path / "data", modality)
    try:
        load_demo(scp.archive, dt.date(2026, 12, 3), lambda n: None)
        good, tampered, missing, other = stored_ct(scp)
        path = scp.archive.store.path(tampered.file_key)
        raw = bytearray(path.read_bytes())
        raw[-1] ^= 0xFF  # one pixel byte changed on disk
        path.write_bytes(bytes(raw))
        scp.archive.store.path(missing.file_key).unlink()
        unknown = generate_uid()
        transaction = generate_uid()
        references = [(CT, good.sop_instance_uid), (CT, tampered.sop_instance_uid),
                      (CT, missing.sop_instance_uid), (CT, unknown),
                      ("1.2.840.10008.5.1.4.1.1.4", other.sop_instance_uid)]
        assert modality.request(scp.port, transaction, references) == 0x0000
        event_type, report = modality.reports.get(timeout=WAIT)
    finally:
        scp.stop()
    assert event_type == 2  # some failed
    assert report.TransactionUID == transaction
    assert [i.ReferencedSOPInstanceUID for i in report.ReferencedSOPSequence] == [
        good.sop_instance_uid]
    failures = {i.ReferencedSOPInstanceUID: int(i.FailureReason)
                for i in report.FailedSOPSequence}
    assert failures == {tampered.sop_instance_uid: 0x0110, missing.sop_instance_uid: 0x0112,
                        unknown: 0x0112, other.sop_instance_uid: 0x0119}


def test_all_committed_is_event_type_1(tmp_path: Path, modality: Modality) -> None:
    modality.start()
    scp = start(tmp_path / "data", modality)
    try:
        load_demo(scp.archive, dt.date(2026, 12, 3), lambda n: None)
        refs = [(CT, i.sop_instance_uid) for i in stored_ct(scp)]
        assert modality.request(scp.port, generate_uid(), refs) == 0x0000
        event_type, report = modality.reports.get(timeout=WAIT)
    finally:
        scp.stop()
    assert event_type == 1
    assert len(report.ReferencedSOPSequence) == 4 and "FailedSOPSequence" not in report


@pytest.fixture(params=BACKENDS)
def index_url(request: pytest.FixtureRequest) -> str | None:
    return backend_url(request)


def test_report_survives_a_restart(tmp_path: Path, modality: Modality,
                                   index_url: str | None) -> None:
    # The modality's SCP is down: the report cannot be delivered and stays pending.
    scp = start(tmp_path / "data", modality, index_url)
    transaction = generate_uid()
    try:
        load_demo(scp.archive, dt.date(2026, 12, 3), lambda n: None)
        refs = [(CT, i.sop_instance_uid) for i in stored_ct(scp)]
        assert modality.request(scp.port, transaction, refs) == 0x0000
        deadline = time.monotonic() + WAIT
        while True:
            with scp.archive.sessions() as session:
                row = session.scalar(select(CommitmentRequest).where(
                    CommitmentRequest.transaction_uid == transaction))
                assert row is not None
                if row.attempts >= 1:
                    break
            assert time.monotonic() < deadline, "no delivery attempt"
            time.sleep(0.2)
        # Not reported: waiting, or already claimed again for the next attempt.
        assert row.state in ("pending", "sending") and row.last_error
    finally:
        scp.stop()
    # The archive restarts (new process state, same database); the modality is back.
    modality.start()
    again = start(tmp_path / "data", modality, index_url)
    try:
        event_type, report = modality.reports.get(timeout=WAIT)
        # The row is marked once the report is acknowledged, just after the modality got it.
        deadline = time.monotonic() + WAIT
        while state_of(again, transaction) != "reported":
            assert time.monotonic() < deadline, state_of(again, transaction)
            time.sleep(0.1)
    finally:
        again.stop()
    assert event_type == 1 and report.TransactionUID == transaction
    assert modality.reports.empty()  # reported once


def test_bad_requests(tmp_path: Path, modality: Modality) -> None:
    scp = start(tmp_path / "data", modality)
    try:
        assert modality.request(scp.port, generate_uid(), []) == 0x0120  # no references
        ae = AE("MODALITY")
        ae.add_requested_context(StorageCommitmentPushModel)
        assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIENTHONG")
        info = Dataset()
        info.TransactionUID = generate_uid()
        status, _ = assoc.send_n_action(info, 7, StorageCommitmentPushModel,
                                        "1.2.840.10008.1.20.1.1")
        assoc.release()
        assert status.Status == 0x0123  # no such action type
        stranger = AE("STRANGER")
        stranger.add_requested_context(StorageCommitmentPushModel)
        refused = stranger.associate("127.0.0.1", scp.port, ae_title="LIENTHONG")
        assert refused.is_rejected
    finally:
        scp.stop()


def test_a_claim_is_never_taken_from_a_live_reporter(database_url: str) -> None:
    """Every worker runs a reporter: a request claimed by one is left alone by the others
    (one report, not two) until its lease shows the claimer died; a late claimer's outcome
    then no longer counts."""
    sessions = make_sessionmaker(writer_engine(make_engine(database_url)))
    lease = dt.timedelta(seconds=300)
    with sessions.begin() as session:
        assert save_request(session, "1.2.3.4", "MODALITY", [(CT, "1.2.3.4.5")])
    with sessions.begin() as session:
        mine = claim_pending(session, "host:1:a")
        request_id = mine[0].id
    with sessions.begin() as session:
        # A second worker starts and polls while the first is still sending.
        assert release_stale_claims(session, lease) == 0
        assert claim_pending(session, "host:2:b") == []
    with sessions.begin() as session:
        # The first worker was killed: its claim ages past the lease.
        session.execute(update(CommitmentRequest).where(CommitmentRequest.id == request_id)
                        .values(claimed_at=utcnow() - 2 * lease))
    with sessions.begin() as session:
        assert release_stale_claims(session, lease) == 1
        assert [r.id for r in claim_pending(session, "host:2:b")] == [request_id]
    with sessions.begin() as session:
        mark_reported(session, request_id, "host:1:a")  # the dead claimer's late word: ignored
        mark_retry(session, request_id, "late failure", "host:1:a")
    with sessions() as session:
        row = session.get(CommitmentRequest, request_id)
        assert row is not None and (row.state, row.claimed_by, row.attempts) == (
            "sending", "host:2:b", 0)
    with sessions.begin() as session:
        mark_reported(session, request_id, "host:2:b")
        assert release_own_claims(session, "host:2:b") == 0
    with sessions() as session:
        row = session.get(CommitmentRequest, request_id)
        assert row is not None and row.state == "reported" and row.reported_at is not None


def test_a_clean_stop_hands_back_its_claims(database_url: str) -> None:
    sessions = make_sessionmaker(writer_engine(make_engine(database_url)))
    with sessions.begin() as session:
        save_request(session, "1.2.3.9", "MODALITY", [(CT, "1.2.3.9.5")])
    with sessions.begin() as session:
        assert len(claim_pending(session, "host:3:c")) == 1
    with sessions.begin() as session:
        assert release_own_claims(session, "host:4:d") == 0
        assert release_own_claims(session, "host:3:c") == 1
    with sessions.begin() as session:
        assert len(claim_pending(session, "host:4:d")) == 1
