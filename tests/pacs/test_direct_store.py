"""The direct storage path (pacs.scp.direct_store) against pynetdicom's own SCP path.

The same request bytes go to one SCP with the direct path and one without it: every response
PDU must be identical. Then what only the direct path does: which associations it takes,
protocol errors, a peer that leaves mid-message, the association limit and stopping.
"""

from __future__ import annotations

import io
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, build_context
from pynetdicom.dimse_messages import C_ECHO_RQ, C_STORE_RQ
from pynetdicom.dimse_primitives import C_ECHO, C_STORE
from pynetdicom.pdu import A_ASSOCIATE_RQ, A_RELEASE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    MRImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)
from sqlalchemy import func, select

from pacs.index.models import Instance
from tests.support.dcmtk import echoscu
from tests.support.dimse import pynetdicom_pdus
from tests.support.qr import RunningScp, start_scp
from tests.support.synthetic import ct_dataset

CALLING = "RAWSCU"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[RunningScp]:
    scp = start_scp(tmp_path / "direct", peers=[(CALLING, 104), ("TESTSCU", 104)],
                    dicom={"direct_store": True, "max_associations": 2})
    yield scp
    scp.stop()


@pytest.fixture
def reactor(tmp_path: Path) -> Iterator[RunningScp]:
    scp = start_scp(tmp_path / "reactor", peers=[(CALLING, 104)],
                    dicom={"direct_store": False})
    yield scp
    scp.stop()


# --- the wire -----------------------------------------------------------------------------

def associate_rq(contexts: list[tuple[int, str, list[str]]], *, max_pdu: int = 16384,
                 roles: list[str] = ()) -> bytes:  # type: ignore[assignment]
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = CALLING
    primitive.called_ae_title = "LIENTHONG"
    for context_id, abstract, syntaxes in contexts:
        cx = build_context(abstract, syntaxes)
        cx.context_id = context_id
        primitive.presentation_context_definition_list.append(cx)
    length = MaximumLengthNotification()
    length.maximum_length_received = max_pdu
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = "1.2.826.0.1.3680043.9.9999.1"
    items: list[object] = [length, implementation]
    for sop_class in roles:
        role = SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid = sop_class
        role.scu_role, role.scp_role = False, True
        items.append(role)
    primitive.user_information = items
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def dimse(message: C_STORE_RQ | C_ECHO_RQ, context_id: int, max_pdu: int = 16384) -> bytes:
    return pynetdicom_pdus(message, context_id, max_pdu)


def echo_rq(context_id: int, message_id: int) -> bytes:
    primitive = C_ECHO()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = Verification
    message = C_ECHO_RQ()
    message.primitive_to_message(primitive)
    return dimse(message, context_id)


def store_rq(context_id: int, message_id: int, ds: Dataset, encoded: bytes | None = None,
             *, implicit: bool = False) -> bytes:
    if encoded is None:
        buffer = DicomBytesIO()
        buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
        write_dataset(buffer, ds)
        encoded = buffer.getvalue()
    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = ds.SOPClassUID
    primitive.AffectedSOPInstanceUID = ds.SOPInstanceUID
    primitive.Priority = 0
    primitive.DataSet = io.BytesIO(encoded)
    message = C_STORE_RQ()
    message.primitive_to_message(primitive)
    return dimse(message, context_id)


def release_rq() -> bytes:
    return bytes(A_RELEASE_RQ().encode())


def read_pdu(sock: socket.socket) -> bytes:
    """One whole PDU (header included); b"" once the peer has closed."""
    header = _read_exactly(sock, 6)
    if len(header) < 6:
        return b""
    length = struct.unpack(">L", header[2:])[0]
    return header + _read_exactly(sock, length)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def status_of(pdu: bytes) -> int:
    """The Status (0000,0900) of a single-PDV command PDU."""
    assert pdu[0] == 0x04 and pdu[11] & 0x03 == 0x03, "one last command fragment expected"
    command = pdu[12:]
    offset = 0
    while offset < len(command):
        _group, element, length = struct.unpack_from("<HHL", command, offset)
        if element == 0x0900:
            return int(struct.unpack_from("<H", command, offset + 8)[0])
        offset += 8 + length
    raise AssertionError("no Status in the response")


def conversation(port: int, requests: list[bytes]) -> list[bytes]:
    """Send each request and read one PDU after each; the bytes of every response."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        responses = []
        for request in requests:
            sock.sendall(request)
            responses.append(read_pdu(sock))
        return responses


def instance_count(scp: RunningScp) -> int:
    with scp.archive.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)


def ct(**kw: object) -> Dataset:
    return ct_dataset(patient_id="DIRECT1", study_uid=generate_uid(), series_uid=generate_uid(),
                      series_number=1, instance_number=1, **kw)  # type: ignore[arg-type]


CONTEXTS = [
    (1, CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
    (3, Verification, [ImplicitVRLittleEndian]),
    (5, MRImageStorage, ["1.2.3.4.5.6"]),  # no transfer syntax of ours: rejected (0x04)
    (7, CTImageStorage, [ImplicitVRLittleEndian]),
]


def test_responses_are_the_bytes_pynetdicom_sends(direct: RunningScp,
                                                  reactor: RunningScp) -> None:
    good, implicit = ct(), ct()
    broken = ct()
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, broken)
    truncated = buffer.getvalue()[:-1000]
    requests = [
        associate_rq(CONTEXTS),
        echo_rq(3, 1),
        store_rq(1, 2, good),
        store_rq(7, 3, implicit, implicit=True),
        store_rq(1, 4, broken, truncated),
        store_rq(1, 5, good),  # the same instance again: a duplicate, Success
        release_rq(),
    ]
    ours = conversation(direct.port, requests)
    theirs = conversation(reactor.port, requests)
    assert ours[0][0] == 0x02, "association accepted"
    assert [status_of(p) for p in ours[1:6]] == [0x0000, 0x0000, 0x0000, 0xC210, 0x0000]
    assert ours[6] == bytes.fromhex("060000000004") + b"\x00" * 4
    assert ours == theirs
    assert instance_count(direct) == instance_count(reactor) == 2


def test_small_peer_pdu_limit_splits_the_response(direct: RunningScp,
                                                  reactor: RunningScp) -> None:
    # A peer that receives PDUs of at most 40 bytes gets the response in several fragments.
    requests = [associate_rq(CONTEXTS, max_pdu=40), echo_rq(3, 9)]
    ours = _all_until_quiet(direct.port, requests)
    theirs = _all_until_quiet(reactor.port, requests)
    assert len(ours) > 2 and ours == theirs


def _all_until_quiet(port: int, requests: list[bytes]) -> list[bytes]:
    """Send the A-ASSOCIATE-RQ and read its answer, send the rest, then read every PDU until
    the SCP stays quiet (an answer may come in several PDUs)."""
    associate, *rest = requests
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(associate)
        pdus = [read_pdu(sock)]
        for request in rest:
            sock.sendall(request)
        sock.settimeout(1.0)
        try:
            while pdu := read_pdu(sock):
                pdus.append(pdu)
        except TimeoutError:
            pass
        return pdus


# --- which associations the direct path takes ----------------------------------------------

def _open_association(port: int, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(request)
    assert read_pdu(sock)[0] == 0x02
    return sock


def _direct_active(scp: RunningScp) -> int:
    direct = scp.server._direct
    assert direct is not None
    return direct.active


@pytest.mark.parametrize(
    ("request_bytes", "served_directly"),
    [
        (associate_rq(CONTEXTS), True),
        # A C-GET requester's storage contexts come with role selection: pynetdicom's.
        (associate_rq([(1, CTImageStorage, [ExplicitVRLittleEndian])],
                      roles=[CTImageStorage]), False),
        # Any other service in the same association: pynetdicom's.
        (associate_rq([(1, CTImageStorage, [ExplicitVRLittleEndian]),
                       (3, StudyRootQueryRetrieveInformationModelFind,
                        [ImplicitVRLittleEndian])]), False),
    ],
    ids=["storage-only", "role-selection", "with-query"],
)
def test_only_plain_storage_associations_are_served_directly(
    direct: RunningScp, request_bytes: bytes, served_directly: bool
) -> None:
    sock = _open_association(direct.port, request_bytes)
    try:
        assert _direct_active(direct) == int(served_directly)
        pynetdicom_side = [a for a in direct.server.ae.active_associations if a.is_acceptor]
        assert len(pynetdicom_side) == int(not served_directly)
        sock.sendall(release_rq())
        assert read_pdu(sock)[0] == 0x06
    finally:
        sock.close()


def test_unknown_calling_ae_is_rejected_by_pynetdicom(direct: RunningScp) -> None:
    request = bytearray(associate_rq(CONTEXTS))
    request[26:42] = b"STRANGER".ljust(16)  # calling AE title field of the A-ASSOCIATE-RQ
    [reply] = conversation(direct.port, [bytes(request)])
    assert reply[0] == 0x03 and reply[7:10] == bytes((1, 1, 3))  # rejected: calling AE


# --- protocol errors ----------------------------------------------------------------------

def _pdv(context_id: int, control: int, data: bytes) -> bytes:
    return struct.pack(">BBLLBB", 0x04, 0, len(data) + 6, len(data) + 2, context_id,
                       control) + data


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_pdv(9, 0x03, b"\x00" * 8), 6),  # a context that was never proposed
        (_pdv(1, 0x02, b"\x00" * 8), 6),  # a data set fragment before any command
        (struct.pack(">BBLLBB", 0x04, 0, 12, 200, 1, 0x03) + b"\x00" * 6, 6),  # PDV overruns
        (_pdv(1, 0x03, struct.pack("<HHL", 0x0008, 0x0016, 2) + b"1\x00"), 6),  # not 0000
        (associate_rq(CONTEXTS), 2),  # a second A-ASSOCIATE-RQ: unexpected PDU
        (struct.pack(">BBL", 0x09, 0, 4) + b"\x00" * 4, 1),  # no such PDU type
    ],
    ids=["unknown-context", "data-before-command", "pdv-overrun", "bad-command-set",
         "second-associate", "unknown-pdu"],
)
def test_protocol_error_aborts_and_the_server_keeps_serving(direct: RunningScp,
                                                            bad: bytes, reason: int) -> None:
    replies = conversation(direct.port, [associate_rq(CONTEXTS), bad])
    assert replies[1][:1] == b"\x07", "A-ABORT"
    assert replies[1][8:10] == bytes((2, reason)), "source: service provider, and the reason"
    assert echoscu(direct.port, calling="TESTSCU")
    assert instance_count(direct) == 0


def test_peer_leaving_mid_data_set_stores_nothing(direct: RunningScp) -> None:
    message = store_rq(1, 1, ct(), implicit=False)
    with socket.create_connection(("127.0.0.1", direct.port), timeout=30) as sock:
        sock.sendall(associate_rq(CONTEXTS))
        assert read_pdu(sock)[0] == 0x02
        sock.sendall(message[: len(message) // 2])
    deadline = time.monotonic() + 10
    while _direct_active(direct) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _direct_active(direct) == 0
    assert instance_count(direct) == 0
    assert not any(p.is_file() for p in direct.settings.objects_dir.rglob("*"))


def test_association_limit_is_a_transient_rejection(direct: RunningScp) -> None:
    # max_associations is 2 in this fixture.
    held = [_open_association(direct.port, associate_rq(CONTEXTS)) for _ in range(2)]
    try:
        [reply] = conversation(direct.port, [associate_rq(CONTEXTS)])
        assert reply[0] == 0x03 and reply[7:10] == bytes((2, 3, 2))
    finally:
        for sock in held:
            sock.close()


def test_stop_aborts_open_direct_associations(tmp_path: Path) -> None:
    scp = start_scp(tmp_path / "stop", peers=[(CALLING, 104)])
    sock = _open_association(scp.port, associate_rq(CONTEXTS))
    try:
        scp.stop()
        sock.settimeout(10)
        reply = read_pdu(sock)
        assert reply == b"" or reply[0] == 0x07
    finally:
        sock.close()


def test_pynetdicom_scu_stores_through_the_direct_path(direct: RunningScp) -> None:
    ae = AE("RAWSCU")
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, JPEG_BASELINE])
    assoc = ae.associate("127.0.0.1", direct.port, ae_title="LIENTHONG")
    assert assoc.is_established
    try:
        assert _direct_active(direct) == 1
        ds = ct(size=64)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        status = assoc.send_c_store(ds)
        assert status.Status == 0x0000
    finally:
        assoc.release()
    assert instance_count(direct) == 1
