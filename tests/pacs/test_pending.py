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
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore

from pacs.scp import wire
from pacs.scp.identifiers import Element, as_dataset, response
from pacs.scp.pending import PENDING, PENDING_UNSUPPORTED_KEYS, DirectWriter
from tests.support.dimse import pynetdicom_pdus


class _Socket:
    def __init__(self) -> None:
        self.sent = bytearray()

    def send(self, data: bytes) -> None:
        self.sent += data


def _identifier() -> list[Element]:
    elements, _ = response(
        [(0x00100010, "PN", "PatientName"), (0x00100020, "LO", "PatientID"),
         (0x00080061, "CS", "ModalitiesInStudy"), (0x00201208, "IS",
                                                   "NumberOfStudyRelatedInstances")],
        {"PatientName": "Lương^Thị Hồng", "PatientID": "BN0001", "ModalitiesInStudy": "CT\\SR",
         "NumberOfStudyRelatedInstances": 41, "StudyInstanceUID": "1.2.826.0.1.3680043.10.1"},
        level="STUDY", request_charset=None)
    return elements


def _pynetdicom_bytes(status: int, identifier: list[Element], syntax: UID, max_pdu: int,
                      message_id: int, context_id: int) -> bytes:
    rsp = C_FIND()
    rsp.MessageIDBeingRespondedTo = message_id
    rsp.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
    rsp.Status = status
    data = encode(as_dataset(identifier), syntax.is_implicit_VR, syntax.is_little_endian)
    assert data
    rsp.Identifier = BytesIO(data)
    message = C_FIND_RSP()
    message.primitive_to_message(rsp)
    return pynetdicom_pdus(message, context_id, max_pdu)


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


# (requested keys, match values, request charset): the shapes C-FIND and worklist answers take.
_CASES = [
    ([(0x00100010, "PN", "PatientName")], {"PatientName": "NGUYEN^VAN A"}, None),
    ([(0x00100010, "PN", "PatientName")], {"PatientName": "Nguyễn^Văn Á"}, "ISO_IR 192"),
    ([(0x00100010, "PN", "PatientName")], {"PatientName": "Lê^Thị"}, None),
    ([(0x00100010, "PN", "PatientName")], {"PatientName": "ABC^DEF"}, "ISO_IR 100"),
    ([(0x00100020, "LO", "PatientID"), (0x00100030, "DA", "PatientBirthDate")],
     {"PatientID": "007", "PatientBirthDate": ""}, None),
    ([(0x00080020, "DA", "StudyDate"), (0x00080030, "TM", "StudyTime")],
     {"StudyDate": "20261203", "StudyTime": "101530.125"}, None),
    ([(0x00080061, "CS", "ModalitiesInStudy")], {"ModalitiesInStudy": "CT\\MR\\SR"}, None),
    ([(0x00201208, "IS", "NumberOfStudyRelatedInstances"),
      (0x00201206, "IS", "NumberOfStudyRelatedSeries")],
     {"NumberOfStudyRelatedInstances": 1234, "NumberOfStudyRelatedSeries": "3"}, None),
    ([(0x00280010, "US", "Rows"), (0x00280011, "US", "Columns")],
     {"Rows": 512, "Columns": "256"}, None),
    ([(0x00081030, "LO", "StudyDescription"), (0x00200010, "SH", "StudyID")],
     {"StudyDescription": "CT sọ não không tiêm", "StudyID": "1"}, None),
    ([(0x00321060, "LO", "RequestedProcedureDescription")], {}, None),  # key we do not have
    ([(0x00080054, "AE", "RetrieveAETitle")], {"RetrieveAETitle": "LIENTHONG"}, None),
    ([(0x00200011, "IS", "SeriesNumber"), (0x0008103E, "LO", "SeriesDescription")],
     {"SeriesNumber": 5, "SeriesDescription": "Ax 5mm", "SeriesInstanceUID": "1.2.3.45"}, None),
]


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize(("requested", "values", "charset"), _CASES)
def test_wire_encoding_equals_pydicom(requested: list[tuple[int, str, str]],
                                      values: dict[str, object], charset: str | None,
                                      implicit: bool) -> None:
    elements, _ = response(requested, values, level="STUDY", request_charset=charset)
    mine = wire.encode(elements, implicit=implicit)
    assert mine is not None
    assert mine == encode(as_dataset(elements), implicit, True)


def test_wire_leaves_what_it_does_not_know_to_pydicom() -> None:
    item = Dataset()
    item.CodeValue = "1"
    for elements in (
        [(0x00081032, "SQ", [item])],  # a sequence
        [(0x00100010, "PN", "Trần^Hưng")],  # non-ASCII without a UTF-8 charset element
        [(0x00080005, "CS", ["", "ISO 2022 IR 100"]), (0x00100010, "PN", "A^B")],
        [(0x00181050, "DS", 0.5)],  # a float where text is expected
    ):
        assert wire.encode(elements, implicit=False) is None
