"""The DICOMweb gateway (PS3.18) under ``/dicomweb``: QIDO-RS, WADO-RS, STOW-RS, WADO-URI."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.dicomweb import rendered, stow, wado, wado_uri
from gateway.dicomweb.common import PREFIX, install_errors

__all__ = ["PREFIX", "install_errors", "router"]


def router() -> APIRouter:
    """Every DICOMweb route, under /dicomweb."""
    combined = APIRouter(prefix=PREFIX)
    # Order matters where paths overlap: /studies/{study}/metadata before /studies/{study}/...
    for module in (rendered, wado, stow, wado_uri):
        combined.include_router(module.router)
    return combined
