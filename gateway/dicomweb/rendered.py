"""Rendered and thumbnail resources (PS3.18 10.4.1.1.3-4): JPEG or PNG for consumer displays.

Query parameters (PS3.18 8.3.5.1): ``window=center,width[,function]``, ``viewport=vw,vh``,
``quality=1..100`` (JPEG). A study or series renders as one part per instance (its first
frame); a thumbnail is one image: the middle instance of the resource, scaled to 128 pixels
unless a viewport is given.
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from gateway.dicomweb.access import StudyAccess
from gateway.dicomweb.common import PREFIX, PRIVATE_HEADERS, ArchiveDep, DatasetsDep
from gateway.dicomweb.datasets import DatasetCache
from gateway.dicomweb.frames import NoPixelData, parse_frame_list
from gateway.dicomweb.media import rendered_type
from gateway.dicomweb.multipart import OutPart, content_type_header, new_boundary, write_parts
from gateway.dicomweb.render import THUMBNAIL_SIZE, RenderParams, parse_params, render
from gateway.dicomweb.resources import StoredInstance, check_uid, stored_instances
from pacs.archive import Archive

router = APIRouter(prefix=PREFIX, tags=["WADO-RS rendered"])

AcceptHeader = Header(None, alias="Accept")
WindowQuery = Query(None, description="center,width[,LINEAR|LINEAR_EXACT|SIGMOID]")
ViewportQuery = Query(None, description="vw,vh: fit the image inside this many pixels")
QualityQuery = Query(None, description="JPEG quality 1..100")


def _params(
    accept: str | None,
    window: str | None,
    viewport: str | None,
    quality: str | None,
    *,
    thumbnail: bool = False,
) -> RenderParams:
    media = rendered_type(accept)
    if thumbnail and not viewport:
        viewport = f"{THUMBNAIL_SIZE},{THUMBNAIL_SIZE}"
    return parse_params(media, window, viewport, quality)


def _items(
    archive: Archive, study: str, series: str | None = None, instance: str | None = None
) -> list[StoredInstance]:
    with archive.sessions() as session:
        return stored_instances(
            session,
            check_uid(study),
            check_uid(series) if series else None,
            check_uid(instance) if instance else None,
        )


def _render_one(
    archive: Archive, datasets: DatasetCache, item: StoredInstance, index: int, params: RenderParams
) -> bytes:
    return render(datasets.read(archive.store, item.file_key), index, params)


def _image(body: bytes, params: RenderParams) -> Response:
    return Response(body, media_type=params.media_type, headers=PRIVATE_HEADERS)


def _multipart(bodies: list[bytes], params: RenderParams) -> Response:
    boundary = new_boundary()
    parts = [OutPart(params.media_type, [b]) for b in bodies]
    media = content_type_header(params.media_type, boundary)
    return Response(
        b"".join(write_parts(parts, boundary)), headers={**PRIVATE_HEADERS, "Content-Type": media}
    )


def _imaged(items: list[StoredInstance]) -> list[StoredInstance]:
    return [i for i in items if i.has_pixels]


@router.get("/studies/{study}/rendered", summary="Study rendered: one image per instance")
def study_rendered(
    study: str,
    _access: StudyAccess,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    window: str | None = WindowQuery,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    params = _params(accept, window, viewport, quality)
    items = _imaged(_items(archive, study))
    return _multipart([_render_one(archive, datasets, i, 0, params) for i in items], params)


@router.get("/studies/{study}/series/{series}/rendered", summary="Series rendered")
def series_rendered(
    study: str,
    _access: StudyAccess,
    series: str,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    window: str | None = WindowQuery,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    params = _params(accept, window, viewport, quality)
    items = _imaged(_items(archive, study, series))
    return _multipart([_render_one(archive, datasets, i, 0, params) for i in items], params)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/rendered",
    summary="Instance rendered (first frame)",
)
def instance_rendered(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    window: str | None = WindowQuery,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    params = _params(accept, window, viewport, quality)
    item = _items(archive, study, series, instance)[0]
    return _image(_render_one(archive, datasets, item, 0, params), params)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered",
    summary="Frames rendered (one image, or multipart for several frames)",
)
def frames_rendered(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    frames: str,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    window: str | None = WindowQuery,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    numbers = parse_frame_list(frames)
    params = _params(accept, window, viewport, quality)
    item = _items(archive, study, series, instance)[0]
    ds = datasets.read(archive.store, item.file_key)
    bodies = [render(ds, n - 1, params) for n in numbers]
    return _image(bodies[0], params) if len(bodies) == 1 else _multipart(bodies, params)


def _thumbnail(
    archive: Archive,
    datasets: DatasetCache,
    items: list[StoredInstance],
    params: RenderParams,
    index: int = 0,
) -> Response:
    imaged = _imaged(items)
    if not imaged:
        raise NoPixelData("resource has no image to show")
    return _image(_render_one(archive, datasets, imaged[len(imaged) // 2], index, params), params)


@router.get("/studies/{study}/thumbnail", summary="Study thumbnail")
def study_thumbnail(
    study: str,
    _access: StudyAccess,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    params = _params(accept, None, viewport, quality, thumbnail=True)
    return _thumbnail(archive, datasets, _items(archive, study), params)


@router.get("/studies/{study}/series/{series}/thumbnail", summary="Series thumbnail")
def series_thumbnail(
    study: str,
    _access: StudyAccess,
    series: str,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    params = _params(accept, None, viewport, quality, thumbnail=True)
    return _thumbnail(archive, datasets, _items(archive, study, series), params)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/thumbnail",
    summary="Instance thumbnail",
)
def instance_thumbnail(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    params = _params(accept, None, viewport, quality, thumbnail=True)
    return _thumbnail(archive, datasets, _items(archive, study, series, instance), params)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail",
    summary="Frame thumbnail (the first frame listed)",
)
def frames_thumbnail(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    frames: str,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
    viewport: str | None = ViewportQuery,
    quality: str | None = QualityQuery,
) -> Response:
    numbers = parse_frame_list(frames)
    params = _params(accept, None, viewport, quality, thumbnail=True)
    items = _items(archive, study, series, instance)
    return _thumbnail(archive, datasets, items, params, numbers[0] - 1)
