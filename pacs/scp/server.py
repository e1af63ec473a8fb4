"""Build and run the DICOM SCP of one worker process.

Several worker processes share the DICOM port with SO_REUSEPORT so that both cores decode and
write while each association stays in one process. The calling AE title check reads the peer
table at every association request, so registering a peer needs no restart.
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


class _ReusePortServer(ThreadedAssociationServer):
    """Association server that shares its port across processes and disables Nagle; plain
    storage associations are served by the direct path when it is set."""

    direct: DirectStore | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.direct is not None and self.direct.serve(request):
            return
        super().finish_request(request, client_address)

    def server_bind(self) -> None:
        assert self.socket is not None
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address


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

    def __init__(self, settings: Settings, archive: Archive) -> None:
        self.settings = settings
        self.archive = archive
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
            server_class=_ReusePortServer,
        )
        self.ae._servers.append(server)  # as AE.start_server does, so shutdown() finds it
        if self.settings.dicom.direct_store:
            assert isinstance(server, _ReusePortServer)
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
