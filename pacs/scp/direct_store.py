"""The direct storage path: plain storage associations served by one blocking loop.

pynetdicom serves each association with two threads that poll every millisecond (its DUL
reactor and its association reactor), reads PDUs 4 KiB at a time and runs its state machine
and DIMSE assembly in Python for every PDU. A no-op pynetdicom C-STORE SCP spent 3.8–5.2 ms of
CPU per 512 KiB CT instance on this kind of machine, more than the whole ingest (parse, file,
index) and more than DCMTK's storescu spends sending it: with two cores, that alone capped
ingest below Orthanc's rate. A modality's association is simple — C-STORE and C-ECHO
requests, answered one by one — so it is served here by one thread: read a PDU, collect PDV
fragments, store, write the response.

Only plain storage associations come here, chosen from the A-ASSOCIATE-RQ read with MSG_PEEK,
so every other association reaches pynetdicom untouched (its negotiation, rejections and
services): every proposed abstract syntax is a storage SOP class or Verification, the calling
AE title is allowed and the called one is ours, and the user information holds nothing but
the maximum length, implementation identification and asynchronous operations window items
(no role selection — a C-GET requester's storage contexts —, no user identity, no extended
negotiation). Negotiation itself is pynetdicom's (``negotiate_as_acceptor``, its PDU
classes), and the A-ASSOCIATE-AC, C-STORE-RSP and C-ECHO-RSP bytes are those pynetdicom sends
(tests/pacs/test_direct_store.py compares them). Setting ``dicom.direct_store = false``
sends every association to pynetdicom.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydicom.uid import UID
from pynetdicom._globals import APPLICATION_CONTEXT_NAME
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor

from pacs.scp import upper_layer as ul

log = logging.getLogger(__name__)

C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
C_CANCEL_RQ = 0x0FFF
SOP_CLASS_NOT_SUPPORTED = 0x0122  # PS3.7 C.5.4 (refused: SOP class not supported)
DATA_SET_MISMATCH = 0xA900

_MAX_RQ_BYTES = 1 << 20  # a larger A-ASSOCIATE-RQ is left to pynetdicom
# One PDU is read whole; with no advertised limit a peer still may not make us allocate more.
_MAX_PDU_BYTES = 256 << 20
_PLAIN_ITEMS = (MaximumLengthNotification, ImplementationClassUIDNotification,
                ImplementationVersionNameNotification, AsynchronousOperationsWindowNegotiation)

# (encoded dataset, transfer syntax, SOP class, SOP instance, calling AE) -> C-STORE status
StoreFunction = Callable[..., int]


@dataclass(frozen=True)
class Acceptor:
    """What the direct path needs of the SCP: its AE, contexts, limits and store function."""

    ae: Any  # pynetdicom AE (its allowed callers are read per association)
    contexts: list[PresentationContext]
    storage_sop_classes: frozenset[str]
    verification_sop_class: str
    store: StoreFunction


class DirectStore:
    """Takes plain storage associations off a server's accepted sockets and serves them."""

    def __init__(self, acceptor: Acceptor) -> None:
        self.acceptor = acceptor
        self._links: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._links)

    def serve(self, sock: socket.socket) -> bool:
        """Serve ``sock``'s association if it is a plain storage one (returns True when done);
        False, with nothing read from the socket, when pynetdicom must take it."""
        if isinstance(sock, ssl.SSLSocket):
            return False
        ae = self.acceptor.ae
        raw = _peek_request(sock, float(ae.acse_timeout or 30))
        sock.settimeout(None)  # as accepted, for pynetdicom
        if raw is None:
            return False
        pdu = A_ASSOCIATE_RQ()
        try:
            pdu.decode(raw)
            request = pdu.to_primitive()
        except Exception:  # anything odd: pynetdicom answers it (usually with an abort)
            return False
        if not self._plain_storage(request):
            return False
        sock.recv(len(raw), socket.MSG_WAITALL)  # consume the request only peeked at so far
        with self._lock:
            busy = len(self._links) + sum(1 for a in ae.active_associations if a.is_acceptor)
            if busy >= ae.maximum_associations:
                admitted = False
            else:
                self._links.add(sock)
                admitted = True
        if not admitted:
            # Rejected transient, presentation related, local limit exceeded (as pynetdicom).
            _send_reject(sock, request, 0x02, 0x03, 0x02)
            return True
        try:
            _Link(self.acceptor, sock, request).run()
        finally:
            with self._lock:
                self._links.discard(sock)
        return True

    def close_all(self) -> None:
        """End every association still open (after the server's grace period)."""
        with self._lock:
            links = list(self._links)
        for sock in links:
            try:
                sock.sendall(ul.abort())
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _plain_storage(self, request: A_ASSOCIATE) -> bool:
        ae = self.acceptor.ae
        allowed = [title.strip() for title in ae.require_calling_aet]
        calling = str(request.calling_ae_title).strip()
        contexts = request.presentation_context_definition_list
        storage = self.acceptor.storage_sop_classes
        return (
            str(request.application_context_name) == APPLICATION_CONTEXT_NAME
            and str(request.called_ae_title).strip() == str(ae.ae_title).strip()
            and (not allowed or calling in allowed)
            and bool(contexts)
            and all(
                str(cx.abstract_syntax) in storage
                or str(cx.abstract_syntax) == self.acceptor.verification_sop_class
                for cx in contexts
            )
            and all(isinstance(item, _PLAIN_ITEMS) for item in request.user_information)
        )


def _peek_request(sock: socket.socket, timeout: float) -> bytes | None:
    """The whole A-ASSOCIATE-RQ PDU, left unread in the socket; None if it is something else."""
    deadline = time.monotonic() + timeout
    need, pause = 6, 0.001
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            data = sock.recv(need, socket.MSG_PEEK)
        except OSError:
            return None
        if not data:
            return None
        if len(data) >= 6 and need == 6:
            pdu_type, length = ul.PDU_HEADER.unpack_from(data)
            if pdu_type != ul.A_ASSOCIATE_RQ or length > _MAX_RQ_BYTES:
                return None
            need = 6 + length
        if len(data) >= need:
            return data[:need]
        time.sleep(pause)  # the rest of the PDU is still on its way
        pause = min(pause * 2, 0.05)


def _send_reject(sock: socket.socket, request: A_ASSOCIATE, result: int, source: int,
                 diagnostic: int) -> None:
    primitive = A_ASSOCIATE()
    primitive.result, primitive.result_source, primitive.diagnostic = result, source, diagnostic
    pdu = A_ASSOCIATE_RJ()
    pdu.from_primitive(primitive)
    try:
        sock.sendall(pdu.encode())
    except OSError:
        pass
    log.warning("association from %s rejected: the limit of open associations is reached",
                str(request.calling_ae_title).strip())


def accept_pdu(acceptor: Acceptor, request: A_ASSOCIATE) -> tuple[bytes, dict[int, Any]]:
    """The A-ASSOCIATE-AC for ``request`` as pynetdicom builds it, and the accepted contexts by
    ID."""
    ae = acceptor.ae
    results, _roles = negotiate_as_acceptor(
        request.presentation_context_definition_list, acceptor.contexts, {}
    )
    accepted = [cx for cx in results if cx.result == 0x00]
    rejected = [cx for cx in results if cx.result != 0x00]
    primitive = A_ASSOCIATE()
    primitive.application_context_name = UID(APPLICATION_CONTEXT_NAME)
    primitive.calling_ae_title = request.calling_ae_title
    primitive.called_ae_title = request.called_ae_title
    primitive.result, primitive.result_source = 0x00, 0x01
    primitive.presentation_context_definition_results_list = accepted + rejected
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = ae.maximum_pdu_size
    class_uid = ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = ae.implementation_class_uid
    items: list[Any] = [max_length, class_uid]
    if ae.implementation_version_name:
        version = ImplementationVersionNameNotification()
        version.implementation_version_name = ae.implementation_version_name
        items.append(version)
    primitive.user_information = items
    pdu = A_ASSOCIATE_AC()
    pdu.from_primitive(primitive)
    return pdu.encode(), {int(cx.context_id or 0): cx for cx in accepted}


class _Link:
    """One accepted association: PDUs in, DIMSE messages assembled, responses out."""

    def __init__(self, acceptor: Acceptor, sock: socket.socket, request: A_ASSOCIATE) -> None:
        self._acceptor = acceptor
        self._sock = sock
        self._request = request
        self._calling = str(request.calling_ae_title).strip()
        self._peer_max_pdu = 0
        for item in request.user_information:
            if isinstance(item, MaximumLengthNotification):
                self._peer_max_pdu = int(item.maximum_length_received or 0)
        self._contexts: dict[int, Any] = {}
        self._reset_message()

    def _reset_message(self) -> None:
        self._context_id: int | None = None
        self._command = bytearray()
        self._elements: dict[int, bytes] | None = None
        self._fragments: list[memoryview] = []

    def run(self) -> None:
        ae = self._acceptor.ae
        try:
            accept, self._contexts = accept_pdu(self._acceptor, self._request)
            self._sock.sendall(accept)
            self._sock.settimeout(float(ae.network_timeout or 60))
            reader = self._sock.makefile("rb", buffering=1 << 16)
            log.debug("direct storage association from %s", self._calling)
            while self._serve_pdu(reader):
                pass
        except ul.ProtocolError as exc:
            log.warning("association from %s aborted: %s", self._calling, exc)
            self._send(ul.abort(0x02, exc.reason))
        except TimeoutError:
            log.warning("association from %s aborted: no PDU for %s s", self._calling,
                        ae.network_timeout)
            self._send(ul.abort(0x02, 0x00))
        except OSError as exc:
            log.info("association from %s ended: %s", self._calling, exc.__class__.__name__)
        except Exception:  # a defect here must not leave the peer waiting for an answer
            log.exception("association from %s aborted on an unexpected error", self._calling)
            self._send(ul.abort(0x02, 0x00))

    def _serve_pdu(self, reader: Any) -> bool:
        header = reader.read(6)
        if len(header) < 6:
            if self._elements is not None or self._command:
                log.warning("association from %s closed in the middle of a message",
                            self._calling)
            return False
        pdu_type, length = ul.PDU_HEADER.unpack(header)
        limit = self._acceptor.ae.maximum_pdu_size or _MAX_PDU_BYTES
        if length > min(limit, _MAX_PDU_BYTES):
            raise ul.ProtocolError(f"PDU of {length} bytes is over the limit")
        body = reader.read(length)
        if len(body) < length:
            return False
        if pdu_type == ul.P_DATA_TF:
            for context_id, control, fragment in ul.pdv_items(body):
                self._on_pdv(context_id, control, fragment)
            return True
        if pdu_type == ul.A_RELEASE_RQ:
            if self._elements is not None or self._command:
                log.warning("association from %s released in the middle of a message",
                            self._calling)
            self._send(ul.release_rp())
            return False
        if pdu_type == ul.A_ABORT:
            log.info("association from %s aborted by the peer", self._calling)
            return False
        if pdu_type in (ul.A_ASSOCIATE_RQ, ul.A_ASSOCIATE_AC, ul.A_ASSOCIATE_RJ, ul.A_RELEASE_RP):
            raise ul.ProtocolError(f"unexpected PDU type 0x{pdu_type:02X}", ul.UNEXPECTED_PDU)
        raise ul.ProtocolError(f"unknown PDU type 0x{pdu_type:02X}", ul.UNRECOGNISED_PDU)

    def _on_pdv(self, context_id: int, control: int, fragment: memoryview) -> None:
        if context_id not in self._contexts:
            raise ul.ProtocolError(f"PDV on presentation context {context_id}, not accepted")
        if self._context_id is not None and context_id != self._context_id:
            raise ul.ProtocolError("PDVs of two messages interleaved")
        self._context_id = context_id
        last = bool(control & 0x02)
        if control & 0x01:  # command fragment
            if self._elements is not None:
                raise ul.ProtocolError("command fragment after the command set ended")
            self._command += fragment
            if last:
                self._elements = ul.parse_command_set(bytes(self._command))
                if ul.us_of(self._elements, ul.COMMAND_DATA_SET_TYPE) == ul.NO_DATA_SET:
                    self._dispatch(None)
            return
        if self._elements is None:
            raise ul.ProtocolError("data set fragment before its command set")
        self._fragments.append(fragment)
        if last:
            self._dispatch(b"".join(self._fragments))

    def _dispatch(self, dataset: bytes | None) -> None:
        elements, context_id = self._elements, self._context_id
        assert elements is not None and context_id is not None
        self._reset_message()
        context = self._contexts[context_id]
        abstract = str(context.abstract_syntax)
        command = ul.us_of(elements, ul.COMMAND_FIELD)
        message_id = ul.us_of(elements, ul.MESSAGE_ID) or 0
        sop_class = ul.text_value(elements, ul.AFFECTED_SOP_CLASS_UID) or abstract
        if command == C_CANCEL_RQ:
            return  # nothing is cancellable on a storage association
        if command == C_ECHO_RQ:
            if abstract != self._acceptor.verification_sop_class:
                raise ul.ProtocolError("C-ECHO on a storage presentation context")
            self._respond(context_id,
                          ul.response_command(C_ECHO_RSP, sop_class, message_id, 0x0000))
            return
        if command != C_STORE_RQ:
            raise ul.ProtocolError(f"command 0x{command or 0:04X} on a storage association")
        instance = ul.text_value(elements, ul.AFFECTED_SOP_INSTANCE_UID)
        if abstract not in self._acceptor.storage_sop_classes:
            status = SOP_CLASS_NOT_SUPPORTED
        elif dataset is None:
            log.warning("C-STORE from %s without a data set", self._calling)
            status = DATA_SET_MISMATCH
        else:
            status = self._acceptor.store(
                dataset,
                transfer_syntax_uid=str(context.transfer_syntax[0]),
                sop_class_uid=abstract,
                sop_instance_uid=instance,
                calling_ae_title=self._calling,
            )
        self._respond(context_id, ul.response_command(C_STORE_RSP, sop_class, message_id, status,
                                                      sop_instance=instance))

    def _respond(self, context_id: int, command: bytes) -> None:
        self._sock.sendall(ul.p_data_pdus(context_id, command, command=True,
                                          max_pdu=self._peer_max_pdu))

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError:
            pass
