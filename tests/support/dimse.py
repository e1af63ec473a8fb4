"""DIMSE messages as pynetdicom puts them on the wire: the reference our direct writers match."""

from __future__ import annotations

from pynetdicom.dimse_messages import DIMSEMessage
from pynetdicom.pdu import P_DATA_TF


def pynetdicom_pdus(message: DIMSEMessage, context_id: int, max_pdu: int) -> bytes:
    """The P-DATA-TF PDUs pynetdicom sends for ``message`` (0 = no PDU size limit)."""
    out = b""
    for p_data in message.encode_msg(context_id, max_pdu):
        pdu = P_DATA_TF()
        pdu.from_primitive(p_data)
        out += pdu.encode()
    return out
