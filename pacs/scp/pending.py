"""Pending C-FIND responses written straight onto the association's socket, in batches.

pynetdicom sends each response as a DIMSE primitive: a command set built and encoded as a
pydicom Dataset, P-DATA primitives queued for the reactor thread, its state machine run per
PDU, one socket write each. For a query with hundreds of matches that is most of the time of
the query (two threads taking turns on the GIL). A Pending C-FIND-RSP differs from the next
only in its identifier and status, so its command set is encoded once here, each identifier
is encoded from the index values (``pacs.scp.wire``), and a batch of P-DATA-TF PDUs goes out
in one write. The bytes are those pynetdicom would send (tests/pacs/test_pending.py compares
them).

pynetdicom still sends the final response (Success, Cancel, failure) itself, after the batches,
so the association's state machine sees the exchange end as usual. The direct path is taken
only where it is safe: little-endian, not deflated, a plain TCP socket (a TLS socket must not
be written by one thread while the reactor reads it in another), nothing queued for the
reactor. Elsewhere the responses go through pynetdicom one by one.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator

from pynetdicom.dsutils import encode
from pynetdicom.events import Event

from pacs.scp import upper_layer as ul
from pacs.scp import wire
from pacs.scp.identifiers import Element, as_dataset
from pacs.scp.pacing import cancelled, let_reactor_read
from pacs.scp.status import FindResult

# C-FIND statuses (PS3.4 C.4.1.1.4): Pending, Pending with optional keys not supported, ...
PENDING, PENDING_UNSUPPORTED_KEYS, CANCELLED, SUCCESS = 0xFF00, 0xFF01, 0xFE00, 0x0000
C_FIND_RSP = 0x8020
DATA_SET_PRESENT = 0x0001  # CommandDataSetType: any value but 0x0101 (pynetdicom's choice)
_FIRST_BATCH, _BATCH = 1, 8  # a small first write lets a C-CANCEL sent on the first response in


def answer(event: Event, responses: Iterable[tuple[int, list[Element]]]) -> Iterator[FindResult]:
    """Send every Pending (status, identifier elements) of ``responses``; yield for pynetdicom the
    Pendings it must send itself (when the direct path is not safe), then the final status:
    0xFE00 if the requester cancelled, else 0x0000."""
    writer = DirectWriter.for_event(event)
    if writer is None:
        for sent, (status, identifier) in enumerate(responses):
            if cancelled(event, sent):
                yield CANCELLED, None
                return
            yield status, as_dataset(identifier)
        yield SUCCESS, None
        return
    sent = 0
    for status, identifier in responses:
        if sent == _FIRST_BATCH or (sent and sent % _BATCH == 0):
            writer.flush()
            let_reactor_read(event)
            if event.is_cancelled:
                yield CANCELLED, None
                return
        writer.add(status, identifier)
        sent += 1
    writer.flush()
    yield SUCCESS, None


class DirectWriter:
    """Encodes Pending C-FIND-RSP messages as P-DATA-TF PDUs and writes them in batches."""

    def __init__(self, event: Event) -> None:
        request = event.request
        transfer_syntax = event.context.transfer_syntax  # the context's one accepted syntax
        transport = event.assoc.dul.socket
        assert transport is not None  # checked by for_event
        self._socket = transport
        self._implicit = bool(transfer_syntax.is_implicit_VR)
        self._context_id = int(event.context.context_id or 0)
        self._max_pdu = int(event.assoc.dimse.maximum_pdu_size)
        self._commands = {
            status: self._command_set(str(request.AffectedSOPClassUID),
                                      int(request.MessageID or 0), status)
            for status in (PENDING, PENDING_UNSUPPORTED_KEYS)
        }
        self._buffer = bytearray()

    @classmethod
    def for_event(cls, event: Event) -> DirectWriter | None:
        transfer_syntax = event.context.transfer_syntax
        dul = event.assoc.dul
        transport = dul.socket
        raw = getattr(transport, "socket", None)
        if (
            transport is None
            or raw is None
            or isinstance(raw, ssl.SSLSocket)
            or not transfer_syntax.is_little_endian
            or transfer_syntax.is_deflated
            or not dul.to_provider_queue.empty()
        ):
            return None
        return cls(event)

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def add(self, status: int, identifier: list[Element]) -> None:
        data = wire.encode(identifier, implicit=self._implicit)
        if data is None:  # not a plain case: as pynetdicom would encode it
            data = encode(as_dataset(identifier), self._implicit, True)
        if not data:
            raise ValueError("the response identifier could not be encoded")
        self._append_pdvs(self._commands[status], command=True)
        self._append_pdvs(data, command=False)

    def flush(self) -> None:
        if self._buffer:
            self._socket.send(bytes(self._buffer))
            self._buffer.clear()

    def _append_pdvs(self, payload: bytes, *, command: bool) -> None:
        self._buffer += ul.p_data_pdus(self._context_id, payload, command=command,
                                       max_pdu=self._max_pdu)

    @staticmethod
    def _command_set(sop_class: str, message_id: int, status: int) -> bytes:
        """The C-FIND-RSP command set (PS3.7 9.3.2.2)."""
        return ul.response_command(C_FIND_RSP, sop_class, message_id, status,
                                   data_set_type=DATA_SET_PRESENT)
