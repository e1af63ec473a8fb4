"""The HTTP application: ``create_app(settings)`` wires routers and shared state.

The health check and the DICOMweb gateway (``gateway.dicomweb``, under /dicomweb); the REST
API, authentication and audit are added as routers here.
"""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from gateway import dicomweb
from lienthong.db import make_engine
from lienthong.settings import Settings
from pacs.archive import open_archive


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="Lienthong", version="0.1.0")
    engine = make_engine(settings.effective_database_url)
    app.state.settings = settings
    app.state.engine = engine
    # The archive (store + index + group committer) that STOW-RS ingests through, exactly as
    # the DICOM workers' C-STORE does; WADO-RS and QIDO-RS read through its sessions.
    archive = open_archive(settings)
    app.state.archive = archive
    app.include_router(dicomweb.router())
    dicomweb.install_errors(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> JSONResponse:
        """Liveness and readiness: the index answers and the storage volume has room."""
        checks: dict[str, Any] = {}
        healthy = True
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            checks["database"] = f"error: {exc.__class__.__name__}"
            healthy = False
        try:
            free = shutil.disk_usage(settings.objects_dir).free
            checks["storage_free_bytes"] = free
            if free < settings.storage.min_free_bytes:
                checks["storage"] = "below low-water mark"
                healthy = False
            else:
                checks["storage"] = "ok"
        except OSError as exc:
            checks["storage"] = f"error: {exc.strerror}"
            healthy = False
        body = {"status": "ok" if healthy else "degraded", **checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.on_event("shutdown")
    def _dispose() -> None:
        archive.close()
        engine.dispose()

    return app
