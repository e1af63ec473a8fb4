"""What every DICOMweb route shares: the archive, a read session, the public base URL, the cache
of parsed instances, and the mapping of this package's error types to HTTP statuses (installed
once by ``install_errors``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gateway.dicomweb.datasets import DatasetCache
from gateway.dicomweb.frames import FrameDecodeError, FrameError, NoPixelData
from gateway.dicomweb.media import NotAcceptable, UnsupportedMediaType
from gateway.dicomweb.multipart import MultipartError, PartTooLarge
from gateway.dicomweb.render import RenderParameterError
from gateway.dicomweb.resources import InvalidUID, QueryParameterError, ResourceNotFound
from gateway.dicomweb.transcode import TranscodeError
from gateway.errors import problem
from pacs.archive import Archive

PREFIX = "/dicomweb"

# Responses carry patient data: never cached by shared caches, never sniffed as HTML.
PRIVATE_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


async def get_archive(request: Request) -> Archive:
    # async: reads app.state only, so no hand-off to the thread pool (see gateway.deps)
    archive: Archive = request.app.state.archive
    return archive


async def get_datasets(request: Request) -> DatasetCache:
    datasets: DatasetCache = request.app.state.datasets
    return datasets


def get_read_session(request: Request) -> Iterator[Session]:
    archive: Archive = request.app.state.archive
    with archive.sessions() as session:
        yield session


ArchiveDep = Annotated[Archive, Depends(get_archive)]
DatasetsDep = Annotated[DatasetCache, Depends(get_datasets)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def base_url(request: Request) -> str:
    """The absolute URL of /dicomweb as clients reach it (setting, else from the request)."""
    archive: Archive = request.app.state.archive
    configured = archive.settings.dicomweb.public_url.rstrip("/")
    if configured:
        return configured + PREFIX
    base = request.base_url
    server = request.scope.get("server")
    default_port = 443 if base.scheme == "https" else 80
    if base.port is None and server and server[1] not in (None, default_port):
        # Some clients (dicomweb-client among them) send "Host" without the port; then the
        # port we listen on is the one they reached. Behind a proxy, set dicomweb.public_url.
        base = base.replace(port=int(server[1]))
    return str(base).rstrip("/") + PREFIX


BaseUrlDep = Annotated[str, Depends(base_url)]

_STATUS: list[tuple[type[Exception], int]] = [
    (InvalidUID, 400),
    (QueryParameterError, 400),
    (FrameError, 400),
    (RenderParameterError, 400),
    (PartTooLarge, 413),
    (MultipartError, 400),
    (ResourceNotFound, 404),
    (NoPixelData, 404),
    (NotAcceptable, 406),
    (TranscodeError, 406),
    (FrameDecodeError, 406),
    (UnsupportedMediaType, 415),
]


def install_errors(app: FastAPI) -> None:
    """Map this package's exceptions to HTTP statuses, as problem+json (``gateway.errors``)."""
    for exc_type, status in _STATUS:

        def handler(_request: Request, exc: Exception, status: int = status) -> JSONResponse:
            return problem(status, str(exc), PRIVATE_HEADERS)

        app.add_exception_handler(exc_type, handler)
