"""WADO-URI (PS3.18 9): ``GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…``.

``contentType`` application/dicom returns the Part 10 file (``transferSyntax`` converts it, as
WADO-RS does); image/jpeg (the default) or image/png renders one frame (``frameNumber``) with
``windowCenter``/``windowWidth``, ``rows``/``columns`` (viewport) and ``imageQuality``.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from gateway.dicomweb.access import check_study
from gateway.dicomweb.common import PREFIX, PRIVATE_HEADERS, ArchiveDep, DatasetsDep
from gateway.dicomweb.media import DICOM, NotAcceptable
from gateway.dicomweb.multipart import file_chunks
from gateway.dicomweb.render import RenderParameterError, parse_params, render
from gateway.dicomweb.resources import check_uid, stored_instances
from gateway.dicomweb.transcode import can_transcode, transcode

router = APIRouter(prefix=PREFIX, tags=["WADO-URI"])


@router.get("/wado", summary="WADO-URI retrieve of one object")
def wado_uri(
    request: Request,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    request_type: str = Query(..., alias="requestType"),
    study_uid: str = Query(..., alias="studyUID"),
    series_uid: str = Query(..., alias="seriesUID"),
    object_uid: str = Query(..., alias="objectUID"),
    content_type: str = Query("image/jpeg", alias="contentType"),
    transfer_syntax: str | None = Query(None, alias="transferSyntax"),
    frame_number: int = Query(1, alias="frameNumber", ge=1),
    window_center: float | None = Query(None, alias="windowCenter"),
    window_width: float | None = Query(None, alias="windowWidth"),
    rows: int | None = Query(None, ge=1),
    columns: int | None = Query(None, ge=1),
    image_quality: int | None = Query(None, alias="imageQuality", ge=1, le=100),
) -> Response:
    if request_type != "WADO":
        raise RenderParameterError("requestType must be WADO")
    check_study(request, study_uid)
    with archive.sessions() as session:
        item = stored_instances(
            session, check_uid(study_uid), check_uid(series_uid), check_uid(object_uid)
        )[0]
    media = content_type.split(",")[0].split(";")[0].strip().lower()
    if media == DICOM:
        target = check_uid(transfer_syntax) if transfer_syntax else item.transfer_syntax_uid
        if target == item.transfer_syntax_uid:
            return StreamingResponse(
                file_chunks(archive.store.open(item.file_key)),
                media_type=DICOM,
                headers=PRIVATE_HEADERS,
            )
        if not can_transcode(item.transfer_syntax_uid, target, has_pixels=item.has_pixels):
            raise NotAcceptable(f"cannot convert to {target}")
        body = transcode(archive.store.open(item.file_key), target)
        return Response(body, media_type=DICOM, headers=PRIVATE_HEADERS)
    if media not in ("image/jpeg", "image/png"):
        raise NotAcceptable("contentType is application/dicom, image/jpeg or image/png")
    window = None
    if window_center is not None and window_width is not None:
        window = f"{window_center},{window_width}"
    viewport = None
    if rows or columns:
        viewport = f"{columns or rows},{rows or columns}"
    params = parse_params(media, window, viewport, str(image_quality) if image_quality else None)
    ds = datasets.read(archive.store, item.file_key)
    return Response(render(ds, frame_number - 1, params), media_type=media, headers=PRIVATE_HEADERS)
