"""DICOM upper-layer framing (PS3.8 9.3) and DIMSE command sets (PS3.7 9.3, E.1) as bytes.

The two places that write DIMSE messages themselves — batched Pending C-FIND responses
(``pacs.scp.pending``) and the direct storage path (``pacs.scp.direct_store``) — share these
encoders. Association negotiation PDUs stay with pynetdicom's own classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

# PDU types (PS3.8 9.3.1)
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07

PDU_HEADER = struct.Struct(">BxL")
_PDV_HEADER = struct.Struct(">LBB")
_COMMAND_ELEMENT = struct.Struct("<HHL")

# Command set elements (group 0000) that the direct paths read or write (PS3.7 E.1).
AFFECTED_SOP_CLASS_UID = 0x0002
COMMAND_FIELD = 0x0100
MESSAGE_ID = 0x0110
MESSAGE_ID_BEING_RESPONDED_TO = 0x0120
COMMAND_DATA_SET_TYPE = 0x0800
STATUS = 0x0900
AFFECTED_SOP_INSTANCE_UID = 0x1000
NO_DATA_SET = 0x0101


# A-ABORT reasons (PS3.8 9.3.8) when the provider aborts.
UNRECOGNISED_PDU, UNEXPECTED_PDU, INVALID_PARAMETER = 0x01, 0x02, 0x06


class ProtocolError(Exception):
    """The peer broke the upper-layer or DIMSE protocol; the association is aborted."""

    def __init__(self, message: str, reason: int = INVALID_PARAMETER) -> None:
        super().__init__(message)
        self.reason = reason


def pdv_items(body: bytes | memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """(context ID, message control header, fragment) of each PDV item of a P-DATA-TF body."""
    view = memoryview(body)
    offset, end = 0, len(view)
    while offset < end:
        if end - offset < 6:
            raise ProtocolError("truncated PDV item")
        length, context_id, control = _PDV_HEADER.unpack_from(view, offset)
        if length < 2 or offset + 4 + length > end:
            raise ProtocolError("PDV item length does not fit its PDU")
        yield context_id, control, view[offset + 6: offset + 4 + length]
        offset += 4 + length


def p_data_pdus(context_id: int, payload: bytes, *, command: bool, max_pdu: int) -> bytes:
    """``payload`` as P-DATA-TF PDUs of one PDV item each, as pynetdicom sends them.

    ``max_pdu`` is the peer's Maximum Length Received (0 = no limit): a PDV item is that minus
    the PDU's 6-byte header (PS3.8 9.3.5, D.1).
    """
    size = max_pdu - 6 if max_pdu else len(payload)
    chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    out = bytearray()
    for n, chunk in enumerate(chunks):
        control = (0x01 if command else 0x00) | (0x02 if n == len(chunks) - 1 else 0x00)
        item_length = len(chunk) + 2
        out += struct.pack(">BBLLBB", P_DATA_TF, 0, item_length + 4, item_length, context_id,
                           control)
        out += chunk
    return bytes(out)


def command_set(elements: list[tuple[int, bytes]]) -> bytes:
    """A command set in Implicit VR Little Endian with its group length; ``elements`` are
    (element number in group 0000, encoded value) in ascending order."""
    body = b"".join(_COMMAND_ELEMENT.pack(0x0000, element, len(value)) + value
                    for element, value in elements)
    return _COMMAND_ELEMENT.pack(0x0000, 0x0000, 4) + struct.pack("<L", len(body)) + body


def response_command(command_field: int, sop_class: str, message_id: int, status: int, *,
                     data_set_type: int = NO_DATA_SET, sop_instance: str | None = None) -> bytes:
    """A DIMSE response's command set with the elements pynetdicom writes (PS3.7 9.3)."""
    elements = [
        (AFFECTED_SOP_CLASS_UID, uid_value(sop_class)),
        (COMMAND_FIELD, us_value(command_field)),
        (MESSAGE_ID_BEING_RESPONDED_TO, us_value(message_id)),
        (COMMAND_DATA_SET_TYPE, us_value(data_set_type)),
        (STATUS, us_value(status)),
    ]
    if sop_instance is not None:
        elements.append((AFFECTED_SOP_INSTANCE_UID, uid_value(sop_instance)))
    return command_set(elements)


def uid_value(uid: str) -> bytes:
    """A UI value padded to even length with NUL (PS3.5 6.2)."""
    value = uid.encode("ascii")
    return value + b"\x00" if len(value) % 2 else value


def us_value(number: int) -> bytes:
    return struct.pack("<H", number)


def parse_command_set(encoded: bytes) -> dict[int, bytes]:
    """The group 0000 elements of an Implicit VR Little Endian command set, by element number.

    Strict: any element outside group 0000 or a length that overruns the message is a protocol
    error (a command set is small and fully specified, PS3.7 6.3.1)."""
    elements: dict[int, bytes] = {}
    offset, end = 0, len(encoded)
    while offset < end:
        if end - offset < 8:
            raise ProtocolError("truncated command set element")
        group, element, length = _COMMAND_ELEMENT.unpack_from(encoded, offset)
        offset += 8
        if group != 0x0000 or length == 0xFFFFFFFF or offset + length > end:
            raise ProtocolError("command set element out of group 0000 or overrunning")
        elements[element] = encoded[offset:offset + length]
        offset += length
    return elements


def text_value(elements: dict[int, bytes], element: int) -> str:
    return elements.get(element, b"").decode("ascii", "replace").strip(" \x00")


def us_of(elements: dict[int, bytes], element: int) -> int | None:
    value = elements.get(element)
    return struct.unpack("<H", value)[0] if value is not None and len(value) == 2 else None


def release_rp() -> bytes:
    """A-RELEASE-RP (PS3.8 9.3.7): type 0x06, length 4, four reserved bytes."""
    return PDU_HEADER.pack(A_RELEASE_RP, 4) + b"\x00" * 4


def abort(source: int = 0x02, reason: int = 0x00) -> bytes:
    """A-ABORT (PS3.8 9.3.8): source 0 = service user, 2 = service provider; reason 0x01
    unrecognised PDU, 0x02 unexpected PDU, 0x06 invalid PDU parameter value."""
    return PDU_HEADER.pack(A_ABORT, 4) + bytes((0, 0, source, reason))
