"""Build and run the DICOM SCP of one worker process.

Several worker processes share the DICOM port so that both cores decode and write while each
association stays in one process: under ``lienthong serve`` one listening socket, accepted
from least busy first (``AcceptBalance``); an SCP started on its own binds with SO_REUSEPORT.
The calling AE title check reads the peer table at every association request, so registering
a peer needs no restart.
"""

from __future__ import annotations

import functools
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

from pynetdicom import AE, _config, evt
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy.exc import SQLAlchemyError

from lienthong.settings import Settings
from pacs.archive import Archive
from pacs.peers import known_ae_titles
from pacs.scp import handlers, services
from pacs.scp.contexts import (
    SERVICE_SOP_CLASSES,
    SERVICE_TRANSFER_SYNTAXES,
    STORAGE_SOP_CLASSES,
    STORAGE_TRANSFER_SYNTAXES,
    VERIFICATION_SOP_CLASS,
)
from pacs.scp.direct_store import Acceptor, DirectStore

log = logging.getLogger(__name__)

# A title no peer can send (it is blank after stripping), used to refuse everyone when the peer
# table is empty: pynetdicom treats an empty list as "accept any".
_NOBODY = " "


class PeerCheckedAE(AE):
    """An AE whose accepted calling AE titles come from a callable, read per association."""

    def __init__(self, ae_title: str, allowed_titles: Callable[[], list[str] | None]) -> None:
        super().__init__(ae_title)
        self._allowed_titles = allowed_titles

    @property
    def require_calling_aet(self) -> list[str]:
        titles = self._allowed_titles()
        if titles is None:  # any caller allowed by configuration
            return []
        return titles or [_NOBODY]

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        raise AttributeError("calling AE titles come from the peer table (lienthong ae add)")


class AcceptBalance:
    """Least-busy-first accepting among worker processes that share one listening socket.

    With SO_REUSEPORT the kernel spreads connections by a hash of their addresses, so four
    modalities often landed three or four on one worker while the other core idled. Here every
    worker is woken by a new connection, publishes how many associations it serves, and one
    that serves more than another worker lets that one accept — unless nobody has within
    ``_PATIENCE`` seconds (a worker that is stuck must not stall the port).
    """

    _PATIENCE = 0.05

    def __init__(self, loads: Any, index: int) -> None:
        self._loads = loads  # a shared array of ints, one per worker (multiprocessing.Array)
        self._index = index
        self._waiting_since = 0.0
        self._last_check = 0.0

    def publish(self, load: int) -> None:
        self._loads[self._index] = load

    def my_turn(self, load: int) -> bool:
        self.publish(load)
        others = [v for i, v in enumerate(self._loads) if i != self._index]
        if not others or load <= min(others):
            return True
        now = time.monotonic()
        if now - self._last_check > 0.005:  # a new connection, not the one we let pass
            self._waiting_since = now
        self._last_check = now
        if now - self._waiting_since > self._PATIENCE:
            return True
        time.sleep(0.001)
        return False


class _DicomAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with Nagle off and our choice of who serves a connection.

    The port is either bound here with SO_REUSEPORT, or — under ``lienthong serve`` — a
    listening socket shared by every worker process and accepted from in turns
    (:class:`AcceptBalance`). Plain storage associations are served by the direct path when
    it is set, the others by pynetdicom.
    """

    direct: DirectStore | None = None

    def __init__(self, *args: Any, listener: socket.socket | None = None,
                 balance: AcceptBalance | None = None, **kwargs: Any) -> None:
        self._listener = listener
        self._balance = balance
        self._in_flight = 0  # accepted and not yet handed to pynetdicom, or served directly
        self._in_flight_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        assert self.socket is not None
        if self._listener is not None:
            self.socket.close()
            self.socket = self._listener
            self.server_address = self._listener.getsockname()
            return
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def server_activate(self) -> None:
        if self._listener is None:  # a shared listener is already listening
            super().server_activate()

    def load(self) -> int:
        return self._in_flight + sum(1 for a in self.ae.active_associations if a.is_acceptor)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        # socketserver treats an OSError here as "no request": the next wake-up tries again.
        if self._balance is not None and not self._balance.my_turn(self.load()):
            raise BlockingIOError("a less busy worker accepts this connection")
        sock, address = super().get_request()  # the shared listener is non-blocking
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._in_flight_lock:
            self._in_flight += 1
        if self._balance is not None:
            self._balance.publish(self.load())
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            if self.direct is None or not self.direct.serve(request):
                super().finish_request(request, client_address)  # starts pynetdicom's thread
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
            if self._balance is not None:
                self._balance.publish(self.load())


def _peer_lookup(archive: Archive) -> Callable[[], list[str] | None]:
    if archive.settings.dicom.allow_any_calling_ae:
        return lambda: None
    cache: dict[str, tuple[float, list[str]]] = {}

    def allowed() -> list[str]:
        # One small query per association; a 1 s cache absorbs bursts of associations.
        now = time.monotonic()
        hit = cache.get("titles")
        if hit and now - hit[0] < 1.0:
            return hit[1]
        try:
            with archive.sessions() as session:
                titles = known_ae_titles(session)
        except SQLAlchemyError as exc:
            # The index is unreachable: keep answering associations (C-ECHO, and C-STORE with
            # 0xA701) with the last known peers rather than letting the acceptor thread die.
            titles = hit[1] if hit else []
            log.error("peer table unreachable, using the %d last known AE titles: %s",
                      len(titles), exc.__class__.__name__)
        cache["titles"] = (now, titles)
        return titles

    allowed()  # known from the start, so an index outage later still has a list to fall back on
    return allowed


def quiet_pynetdicom() -> None:
    """Turn off pynetdicom's standard logging handlers and identifier dumps.

    They format every PDU, DIMSE message and identifier (patient names included) for DEBUG and
    INFO lines that our logging configuration drops anyway (``lienthong.logs``), on the thread
    that sends each C-FIND response. Process-wide settings.
    """
    _config.LOG_HANDLER_LEVEL = "none"
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False


def build_ae(settings: Settings, archive: Archive) -> AE:
    quiet_pynetdicom()
    ae = PeerCheckedAE(settings.dicom.ae_title, _peer_lookup(archive))
    ae.maximum_pdu_size = settings.dicom.max_pdu_size
    ae.maximum_associations = settings.dicom.max_associations
    ae.acse_timeout = settings.dicom.acse_timeout
    ae.dimse_timeout = settings.dicom.dimse_timeout
    ae.network_timeout = settings.dicom.network_timeout
    ae.require_called_aet = True
    ae.add_supported_context(VERIFICATION_SOP_CLASS)
    for sop_class in STORAGE_SOP_CLASSES:
        # Both roles: a C-GET requester proposes to be the storage SCP (PS3.7 D.3.3.4).
        ae.add_supported_context(
            sop_class, list(STORAGE_TRANSFER_SYNTAXES), scu_role=True, scp_role=True
        )
    for sop_class in SERVICE_SOP_CLASSES:
        ae.add_supported_context(sop_class, list(SERVICE_TRANSFER_SYNTAXES))
    return ae


class DicomServer:
    """A running SCP: start() binds and serves in a thread, stop() finishes and unbinds."""

    def __init__(self, settings: Settings, archive: Archive, *,
                 listener: socket.socket | None = None,
                 balance: AcceptBalance | None = None) -> None:
        self.settings = settings
        self.archive = archive
        self._listener = listener
        self._balance = balance
        self.ae = build_ae(settings, archive)
        self._server: ThreadedAssociationServer | None = None
        self._direct: DirectStore | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        handlers_list = [
            (evt.EVT_C_ECHO, handlers.handle_echo),
            (evt.EVT_C_STORE, handlers.handle_store, [self.archive]),
            *services.service_handlers(self.archive),
        ]
        server = self.ae.make_server(
            (self.settings.host, self.settings.dicom.port),
            evt_handlers=handlers_list,
            server_class=_DicomAssociationServer,
            listener=self._listener,
            balance=self._balance,
        )
        self.ae._servers.append(server)  # as AE.start_server does, so shutdown() finds it
        if self.settings.dicom.direct_store:
            assert isinstance(server, _DicomAssociationServer)
            server.direct = self._direct = DirectStore(Acceptor(
                ae=self.ae,
                contexts=server.contexts,
                storage_sop_classes=frozenset(STORAGE_SOP_CLASSES),
                verification_sop_class=VERIFICATION_SOP_CLASS,
                store=functools.partial(handlers.store, self.archive),
            ))
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="dicom-scp", daemon=True)
        self._thread.start()
        host, port = server.server_address[:2]
        log.info("DICOM SCP %s listening on %s:%s", self.settings.dicom.ae_title, host, port)
        return str(host), int(port)

    def stop(self, grace: float = 0.0) -> None:
        """Stop accepting; let open associations finish for up to `grace` seconds."""
        services.stop_services(self.archive)
        server, direct = self._server, self._direct
        if server is not None:
            socketserver.BaseServer.shutdown(server)  # no more accepts; sockets stay open
        deadline = time.monotonic() + grace
        while (self.ae.active_associations or (direct and direct.active)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        if direct is not None:
            # Before pynetdicom's shutdown, which joins the request threads serving them.
            direct.close_all()
        if server is not None:
            server.shutdown()
            self._server = None
        self.ae.shutdown()
