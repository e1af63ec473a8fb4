"""Operations endpoints: ``/healthz`` (anonymous) and ``/metrics`` (IT, admin or a metrics key)."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.deps import SettingsDep
from gateway.metrics import IndexCollector, exposition

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(request: Request, settings: SettingsDep) -> JSONResponse:
    """Liveness and readiness: the index answers and the storage volume has room."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
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


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition (request latency by route, failures, index and audit
    figures, module metrics)."""
    body, content_type = exposition(IndexCollector(request.app.state.sessions))
    return Response(body, media_type=content_type)
