"""The DICOMweb gateway (PS3.18) under ``/dicomweb``: QIDO-RS, WADO-RS, STOW-RS, WADO-URI."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.dicomweb import qido, rendered, stow, wado, wado_uri
from gateway.dicomweb.access import patient_resolver
from gateway.dicomweb.common import PREFIX, install_errors
from gateway.dicomweb.datasets import DatasetCache

__all__ = ["PREFIX", "DatasetCache", "install_errors", "patient_resolver", "routers"]


def routers() -> list[APIRouter]:
    """Every DICOMweb router, each already under /dicomweb; the most requested first (frames and
    metadata, then rendered images: see ``gateway.routers``)."""
    return [wado.router, rendered.router, qido.router, stow.router, wado_uri.router]
