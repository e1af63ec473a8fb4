"""WADO-RS (PS3.18 10.4): instances, metadata, frames and bulk data of stored studies.

Instances are streamed from the store file by file (or transcoded one at a time in memory);
metadata comes from the index only; frames and bulk data read one file. A series' pixel data
(every frame of every instance, one part each) streams file by file too: the viewer loads a
whole series in one request instead of one request per frame.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Header
from fastapi.responses import Response, StreamingResponse
from pydicom.uid import ExplicitVRLittleEndian
from starlette.concurrency import run_in_threadpool

from gateway.dicomweb.access import StudyAccess
from gateway.dicomweb.common import (
    PREFIX,
    PRIVATE_HEADERS,
    ArchiveDep,
    BaseUrlDep,
    DatasetsDep,
    ReadSessionDep,
)
from gateway.dicomweb.dicomjson import instance_url, json_array, served_metadata
from gateway.dicomweb.frames import (
    bulk_element,
    native_frames,
    parse_frame_list,
    read_instance,
    stored_frames,
)
from gateway.dicomweb.media import (
    DICOM,
    DICOM_JSON,
    OCTET_STREAM,
    FrameChoice,
    NotAcceptable,
    frame_choice,
    instance_syntaxes,
)
from gateway.dicomweb.multipart import (
    OutPart,
    content_type_header,
    file_chunks,
    new_boundary,
    write_parts,
)
from gateway.dicomweb.resources import (
    ResourceNotFound,
    StoredInstance,
    check_uid,
    metadata_rows,
    stored_instances,
)
from gateway.dicomweb.transcode import can_transcode, transcode
from pacs.archive import Archive

router = APIRouter(prefix=PREFIX, tags=["WADO-RS"])

AcceptHeader = Header(None, alias="Accept")


def _target_syntax(item: StoredInstance, choices: list[str]) -> str:
    for choice in choices:
        if choice == "*":
            return item.transfer_syntax_uid
        if can_transcode(item.transfer_syntax_uid, choice, has_pixels=item.has_pixels):
            return choice
    raise NotAcceptable(
        f"an instance stored as {item.transfer_syntax_uid} cannot be sent in the requested "
        "transfer syntax"
    )


def _instance_parts(archive: Archive, plan: list[tuple[StoredInstance, str]]) -> Iterator[OutPart]:
    for item, target in plan:
        if target == item.transfer_syntax_uid:
            chunks: Iterator[bytes] = file_chunks(archive.store.open(item.file_key))
        else:
            chunks = iter([transcode(archive.store.open(item.file_key), target)])
        yield OutPart(f"{DICOM}; transfer-syntax={target}", chunks)


def _retrieve(
    archive: Archive, accept: str | None, study: str, series: str | None, instance: str | None
) -> StreamingResponse:
    choices = instance_syntaxes(accept)
    with archive.sessions() as session:
        items = stored_instances(session, study, series, instance)
    plan = [(item, _target_syntax(item, choices)) for item in items]
    boundary = new_boundary()
    syntaxes = {target for _, target in plan}
    media = content_type_header(DICOM, boundary, syntaxes.pop() if len(syntaxes) == 1 else None)
    return StreamingResponse(
        write_parts(_instance_parts(archive, plan), boundary),
        media_type=None,
        headers={**PRIVATE_HEADERS, "Content-Type": media},
    )


@router.get("/studies/{study}", summary="Retrieve a study (multipart application/dicom)")
def retrieve_study(
    study: str, _access: StudyAccess, archive: ArchiveDep, accept: str | None = AcceptHeader
) -> Response:
    return _retrieve(archive, accept, check_uid(study), None, None)


@router.get("/studies/{study}/series/{series}", summary="Retrieve a series")
def retrieve_series(
    study: str,
    _access: StudyAccess,
    series: str,
    archive: ArchiveDep,
    accept: str | None = AcceptHeader,
) -> Response:
    return _retrieve(archive, accept, check_uid(study), check_uid(series), None)


@router.get("/studies/{study}/series/{series}/instances/{instance}", summary="Retrieve an instance")
def retrieve_instance(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    archive: ArchiveDep,
    accept: str | None = AcceptHeader,
) -> Response:
    return _retrieve(archive, accept, check_uid(study), check_uid(series), check_uid(instance))


def _metadata(
    session: ReadSessionDep, base: str, study: str, series: str | None, instance: str | None
) -> Response:
    rows = metadata_rows(session, study, series, instance)
    body = "".join(
        json_array(
            served_metadata(
                row.metadata_json,
                instance_url(base, study, row.series_instance_uid, row.sop_instance_uid),
                row.transfer_syntax_uid,
            )
            for row in rows
        )
    )
    return Response(body.encode("utf-8"), media_type=DICOM_JSON, headers=PRIVATE_HEADERS)


@router.get("/studies/{study}/metadata", summary="Study metadata (DICOM JSON, from the index)")
def study_metadata(
    study: str, _access: StudyAccess, session: ReadSessionDep, base: BaseUrlDep
) -> Response:
    return _metadata(session, base, check_uid(study), None, None)


@router.get("/studies/{study}/series/{series}/metadata", summary="Series metadata")
def series_metadata(
    study: str, _access: StudyAccess, series: str, session: ReadSessionDep, base: BaseUrlDep
) -> Response:
    return _metadata(session, base, check_uid(study), check_uid(series), None)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/metadata", summary="Instance metadata"
)
def instance_metadata(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    session: ReadSessionDep,
    base: BaseUrlDep,
) -> Response:
    return _metadata(session, base, check_uid(study), check_uid(series), check_uid(instance))


def _one_instance(archive: Archive, study: str, series: str, instance: str) -> StoredInstance:
    with archive.sessions() as session:
        uids = check_uid(study), check_uid(series), check_uid(instance)
        return stored_instances(session, *uids)[0]


def _multipart_response(parts: list[OutPart], part_type: str, ts: str | None) -> Response:
    boundary = new_boundary()
    body = b"".join(write_parts(parts, boundary))
    media = content_type_header(part_type, boundary, ts)
    return Response(body, headers={**PRIVATE_HEADERS, "Content-Type": media})


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
    summary="Frames, as stored or uncompressed (multipart)",
)
async def retrieve_frames(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    frames: str,
    archive: ArchiveDep,
    datasets: DatasetsDep,
    accept: str | None = AcceptHeader,
) -> Response:
    numbers = parse_frame_list(frames)
    item = await run_in_threadpool(_one_instance, archive, study, series, instance)
    choice = frame_choice(accept, item.transfer_syntax_uid)

    def load() -> list[bytes]:
        ds = datasets.read(archive.store, item.file_key)
        if choice.uncompressed:
            return native_frames(ds, numbers)
        return stored_frames(ds, numbers)

    data = await run_in_threadpool(load)
    part_type = f"{choice.media_type}; transfer-syntax={choice.transfer_syntax}"
    parts = [OutPart(part_type, [frame]) for frame in data]
    return _multipart_response(parts, choice.media_type, choice.transfer_syntax)


def _pixeldata_parts(
    archive: Archive, base: str, plan: list[tuple[StoredInstance, FrameChoice]]
) -> Iterator[OutPart]:
    for item, choice in plan:
        ds = read_instance(archive.store.open(item.file_key))
        numbers = list(range(1, int(item.number_of_frames or 1) + 1))
        data = native_frames(ds, numbers) if choice.uncompressed else stored_frames(ds, numbers)
        url = instance_url(base, item.study_instance_uid, item.series_instance_uid,
                           item.sop_instance_uid)
        part_type = f"{choice.media_type}; transfer-syntax={choice.transfer_syntax}"
        for number, frame in zip(numbers, data, strict=True):
            yield OutPart(part_type, [frame], location=f"{url}/frames/{number}")


@router.get(
    "/studies/{study}/series/{series}/pixeldata",
    summary="Series pixel data: every frame of every image, one part each (multipart)",
)
def retrieve_series_pixeldata(
    study: str,
    _access: StudyAccess,
    series: str,
    archive: ArchiveDep,
    base: BaseUrlDep,
    accept: str | None = AcceptHeader,
) -> Response:
    """Each part carries its frame URL in Content-Location, in instance number order; the
    representation is chosen per instance as for frames (406 before anything is sent)."""
    with archive.sessions() as session:
        items = stored_instances(session, check_uid(study), check_uid(series), None)
    plan = [(item, frame_choice(accept, item.transfer_syntax_uid))
            for item in items if item.has_pixels]
    if not plan:
        raise ResourceNotFound("the series has no pixel data")
    kinds = {(choice.media_type, choice.transfer_syntax) for _, choice in plan}
    media_type, syntax = kinds.pop() if len(kinds) == 1 else (plan[0][1].media_type, None)
    boundary = new_boundary()
    media = content_type_header(media_type, boundary, syntax)
    return StreamingResponse(
        write_parts(_pixeldata_parts(archive, base, plan), boundary),
        media_type=None,
        headers={**PRIVATE_HEADERS, "Content-Type": media},
    )


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/bulkdata/{tag}",
    summary="Bulk data named by a BulkDataURI in the metadata",
)
def retrieve_bulkdata(
    study: str,
    _access: StudyAccess,
    series: str,
    instance: str,
    tag: str,
    archive: ArchiveDep,
    accept: str | None = AcceptHeader,
) -> Response:
    item = _one_instance(archive, study, series, instance)
    ds = read_instance(archive.store.open(item.file_key))
    if tag.upper() == "7FE00010":
        # Pixel Data: its frames, as stored when the client takes any syntax, else native.
        count = int(item.number_of_frames or 1)
        choice = frame_choice(accept, item.transfer_syntax_uid)
        numbers = list(range(1, count + 1))
        if choice.uncompressed:
            native = b"".join(native_frames(ds, numbers))
            return _multipart_response(
                [OutPart(OCTET_STREAM, [native])], OCTET_STREAM, ExplicitVRLittleEndian
            )
        part_type = f"{choice.media_type}; transfer-syntax={choice.transfer_syntax}"
        parts = [OutPart(part_type, [f]) for f in stored_frames(ds, numbers)]
        return _multipart_response(parts, choice.media_type, choice.transfer_syntax)
    value = bulk_element(ds, tag)
    return _multipart_response([OutPart(OCTET_STREAM, [value])], OCTET_STREAM, None)
