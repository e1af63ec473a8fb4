"""The directly written Pending C-FIND responses are the bytes pynetdicom would send.

End to end, every findscu test in test_find.py and test_worklist.py reads these responses; this
test pins the encoding itself against pynetdicom's own, fragment by fragment.
"""

from __future__ import annotations

import struct
from io import BytesIO
from types import SimpleNamespace

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore

from pacs.scp.pending import PENDING, PENDING_UNSUPPORTED_KEYS, DirectWriter


class _Socket:
    def __init__(self) -> None:
        self.sent = bytearray()

    def send(self, data: bytes) -> None:
        self.sent += data


def _identifier() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = "Lương^Thị Hồng"
    ds.PatientID = "BN0001"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.1446.1"
    ds.ModalitiesInStudy = ["CT", "SR"]
    return ds


def _pynetdicom_bytes(status: int, identifier: Dataset, syntax: UID, max_pdu: int,
                      message_id: int, context_id: int) -> bytes:
    rsp = C_FIND()
    rsp.MessageIDBeingRespondedTo = message_id
    rsp.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
    rsp.Status = status
    data = encode(identifier, syntax.is_implicit_VR, syntax.is_little_endian)
    assert data
    rsp.Identifier = BytesIO(data)
    message = C_FIND_RSP()
    message.primitive_to_message(rsp)
    out = b""
    for primitive in message.encode_msg(context_id, max_pdu):
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        out += pdu.encode()
    return out


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
@pytest.mark.parametrize("max_pdu", [0, 16382, 64])
def test_direct_pending_bytes_equal_pynetdicom(syntax: UID, max_pdu: int) -> None:
    socket = _Socket()
    request = SimpleNamespace(AffectedSOPClassUID=StudyRootQueryRetrieveInformationModelFind,
                              MessageID=7)
    event = SimpleNamespace(
        request=request,
        context=SimpleNamespace(transfer_syntax=syntax, context_id=3),
        assoc=SimpleNamespace(dul=SimpleNamespace(socket=socket),
                              dimse=SimpleNamespace(maximum_pdu_size=max_pdu)),
    )
    writer = DirectWriter(event)  # type: ignore[arg-type]
    expected = b""
    for status in (PENDING, PENDING_UNSUPPORTED_KEYS, PENDING):
        writer.add(status, _identifier())
        expected += _pynetdicom_bytes(status, _identifier(), syntax, max_pdu, 7, 3)
    writer.flush()
    assert bytes(socket.sent) == expected
    # Two PDUs per response (command, identifier) unless the identifier had to be cut up.
    assert (_pdu_count(expected) > 6) == (max_pdu == 64)


def _pdu_count(data: bytes) -> int:
    count = offset = 0
    while offset < len(data):
        assert data[offset] == 0x04  # P-DATA-TF
        (length,) = struct.unpack_from(">L", data, offset + 2)
        offset += 6 + length
        count += 1
    assert offset == len(data)
    return count
