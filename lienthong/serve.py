"""`lienthong serve`: the HTTP app in this process, DICOM worker processes beside it.

The DICOM side runs in separate processes so that ingest uses both cores and never holds the
HTTP process's GIL. This process binds the DICOM port and hands the listening socket to every
worker; they accept from it in turns, least busy first (``pacs.scp.server.AcceptBalance``).
SIGTERM or Ctrl-C stops the HTTP server, then the workers finish their open associations
(bounded) and exit; a clean stop leaves a marker so the next start skips the orphan scan.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

import uvicorn

from lienthong.logs import configure_logging
from lienthong.migrate import upgrade
from lienthong.settings import Settings
from pacs.archive import open_archive, open_store

log = logging.getLogger(__name__)

CLEAN_MARKER = "clean-shutdown"
WORKER_STOP_GRACE = 20.0


def run_dicom_worker(settings_data: dict[str, Any], stop: MpEvent, ready: Any,
                     listener: socket.socket, loads: Any, index: int) -> None:
    """Entry point of one DICOM worker process."""
    from pacs.scp.server import AcceptBalance, DicomServer

    settings = Settings.model_validate(settings_data)
    configure_logging(settings.log_level, settings.log_format)
    local_stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        local_stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    archive = open_archive(settings)
    server = DicomServer(settings, archive, listener=listener,
                         balance=AcceptBalance(loads, index))
    server.start()
    ready.put(True)
    parent = os.getppid()
    # Stop when told, or when the parent is gone (it may have been killed with SIGKILL).
    while not (local_stop.is_set() or stop.is_set()) and os.getppid() == parent:
        local_stop.wait(0.2)
    server.stop(grace=WORKER_STOP_GRACE)
    archive.close()


def dicom_listener(host: str, port: int) -> socket.socket:
    """The DICOM port's listening socket, non-blocking: every worker is woken by a connection
    and only one of them gets it."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    listener = socket.create_server((host, port), family=family, backlog=128)
    listener.setblocking(False)
    return listener


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGTERM/SIGINT for all processes."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    store = open_store(settings)
    store.sweep_temporary()
    marker = settings.data_dir / CLEAN_MARKER
    unclean = not marker.exists()
    marker.unlink(missing_ok=True)
    started = time.time()

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    ready = ctx.Queue()
    dump = settings.model_dump(mode="json")
    listener = dicom_listener(settings.host, settings.dicom.port)
    loads = ctx.Array("i", settings.dicom_workers, lock=False)
    workers = [
        ctx.Process(
            target=run_dicom_worker, args=(dump, stop, ready, listener, loads, i),
            name=f"dicom-{i}", daemon=False,
        )
        for i in range(settings.dicom_workers)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=60)
    listener.close()  # the workers hold their own copies
    log.info("%d DICOM worker(s) on port %d", len(workers), settings.dicom.port)

    recovery = None
    if unclean:
        recovery = threading.Thread(
            target=_recover, args=(settings, started), name="recovery", daemon=True
        )
        recovery.start()

    daily = None
    if settings.claims.daily_export:
        from claims.schedule import DailyExport

        daily = DailyExport(settings)
        daily.start()

    from gateway.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )
    http = _HttpServer(config)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        http.should_exit = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        http.run()
    finally:
        stop.set()
        if daily is not None:
            daily.stop()
        for worker in workers:
            worker.join(WORKER_STOP_GRACE + 5)
            if worker.is_alive():
                log.error("worker %s did not stop; terminating", worker.name)
                worker.terminate()
                worker.join(5)
        if recovery is not None:
            recovery.join(5)
        if all(w.exitcode == 0 for w in workers):
            try:
                marker.touch()
            except OSError as exc:  # e.g. a full volume: the next start just scans for orphans
                log.warning("could not leave the clean-shutdown marker: %s", exc.strerror)
        log.info("stopped")


def _recover(settings: Settings, before: float) -> None:
    from pacs.recovery import recover_orphans

    archive = open_archive(settings)
    try:
        count = recover_orphans(archive, before)
        if count:
            log.warning("recovered %d orphan file(s) after an unclean stop", count)
    finally:
        archive.close()
