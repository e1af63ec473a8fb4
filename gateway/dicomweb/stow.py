"""STOW-RS (PS3.18 10.5): store instances sent as multipart/related; type="application/dicom".

The request body is parsed as it arrives; each part (a Part 10 file) goes through
``Archive.ingest``, the same path as C-STORE (strict structural check, durable file, index
commit, duplicate policy), before the next part is read. The response lists what was stored
(ReferencedSOPSequence) and what was not, with the PS3.18 failure reason (FailedSOPSequence).
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydicom import dcmread
from pydicom.filereader import _read_file_meta_info, read_preamble
from starlette.concurrency import run_in_threadpool

from gateway.deps import current_principal
from gateway.dicomweb.access import record_access
from gateway.dicomweb.common import PREFIX, PRIVATE_HEADERS, ArchiveDep, BaseUrlDep
from gateway.dicomweb.dicomjson import dumps, instance_url
from gateway.dicomweb.media import DICOM, DICOM_JSON, UnsupportedMediaType
from gateway.dicomweb.multipart import (
    InPart,
    MultipartError,
    PartTooLarge,
    boundary_of,
    media_params,
    read_parts,
)
from gateway.dicomweb.resources import check_uid
from lienthong import audit
from pacs.archive import Archive
from pacs.errors import DatasetMismatch, PacsError, UndecodableDataset

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["STOW-RS"])

# PS3.18 Table 10.5.3-2 failure reasons (the PS3.4 C-STORE statuses they come from).
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110


@dataclass(frozen=True)
class PartResult:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    patient_id: str = ""
    failure_reason: int | None = None


def failure_reason(exc: PacsError) -> int:
    """The FailedSOPSequence reason for an ingest error (one mapping, PS3.18 10.5.3)."""
    if isinstance(exc, UndecodableDataset):
        return CANNOT_UNDERSTAND
    return exc.dimse_status


def _identify(body: bytes) -> tuple[str, str, str, int]:
    """(transfer syntax, SOP class, SOP instance, offset of the dataset) from the file meta."""
    fp = io.BytesIO(body)
    try:
        read_preamble(fp, force=False)
        meta = _read_file_meta_info(fp)
    except Exception as exc:  # pydicom raises several types for a bad preamble or meta group
        raise UndecodableDataset(f"not a DICOM Part 10 file: {type(exc).__name__}") from exc
    ts = str(meta.get("TransferSyntaxUID") or "")
    sop_class = str(meta.get("MediaStorageSOPClassUID") or "")
    sop_instance = str(meta.get("MediaStorageSOPInstanceUID") or "")
    if not ts:
        raise UndecodableDataset("file meta has no Transfer Syntax UID")
    return ts, sop_class, sop_instance, fp.tell()


def _identity(body: bytes) -> tuple[str, str, str]:
    """(Study Instance UID, Series Instance UID, Patient ID) of a Part 10 file."""
    try:
        ds = dcmread(
            io.BytesIO(body),
            stop_before_pixels=True,
            specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "PatientID"],
        )
    except Exception as exc:  # any parse failure: the instance cannot be understood
        raise UndecodableDataset(f"dataset does not parse: {type(exc).__name__}") from exc
    return (
        str(ds.get("StudyInstanceUID") or ""),
        str(ds.get("SeriesInstanceUID") or ""),
        str(ds.get("PatientID") or ""),
    )


def store_part(archive: Archive, part: InPart, study: str | None) -> PartResult:
    """Ingest one part; never raises for a bad instance (it becomes a failure reason)."""
    sop_class = sop_instance = ""
    try:
        if part.content_type not in (DICOM, ""):
            raise UndecodableDataset("body part is not application/dicom")
        ts, sop_class, sop_instance, offset = _identify(part.body)
        in_study, in_series, patient_id = _identity(part.body)
        if study is not None and in_study != study:
            raise DatasetMismatch("instance does not belong to the study in the URL")
        archive.ingest(
            part.body[offset:],
            transfer_syntax_uid=ts,
            sop_class_uid=sop_class,
            sop_instance_uid=sop_instance,
        )
        return PartResult(sop_class, sop_instance, in_study, in_series, patient_id)
    except PacsError as exc:
        log.warning("STOW-RS instance refused with 0x%04X: %s", failure_reason(exc), exc.reason)
        return PartResult(sop_class, sop_instance, failure_reason=failure_reason(exc))
    except Exception:
        log.exception("STOW-RS instance failed unexpectedly")
        return PartResult(sop_class, sop_instance, failure_reason=PROCESSING_FAILURE)


def _check_request(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/related":
        raise UnsupportedMediaType("STOW-RS takes multipart/related")
    part_type = media_params(content_type).get("type", DICOM).lower()
    if part_type != DICOM:
        raise UnsupportedMediaType('only multipart/related; type="application/dicom" is stored')
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedMediaType("compressed request bodies are not accepted")
    return boundary_of(content_type)


async def _bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise PartTooLarge(f"request body exceeds {limit} bytes")
        yield chunk


def _uid(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def response_body(base: str, results: list[PartResult], study: str | None) -> dict[str, Any]:
    """The Store Instances Response Module (PS3.18 10.5.3.1), as DICOM JSON."""
    body: dict[str, Any] = {}
    if study:
        body["00081190"] = {"vr": "UR", "Value": [f"{base}/studies/{study}"]}
    failed = [
        {
            "00081150": _uid(r.sop_class_uid),
            "00081155": _uid(r.sop_instance_uid),
            "00081197": {"vr": "US", "Value": [r.failure_reason]},
        }
        for r in results
        if r.failure_reason is not None
    ]
    stored = [
        {
            "00081150": _uid(r.sop_class_uid),
            "00081155": _uid(r.sop_instance_uid),
            "00081190": {
                "vr": "UR",
                "Value": [
                    instance_url(
                        base, r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid
                    )
                ],
            },
        }
        for r in results
        if r.failure_reason is None
    ]
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": stored}
    return body


def http_status(results: list[PartResult]) -> int:
    """200 all stored, 202 some failed, 409 none stored (PS3.18 10.5.3)."""
    failures = sum(1 for r in results if r.failure_reason is not None)
    if failures == 0:
        return 200
    return 409 if failures == len(results) else 202


def _audit(request: Request, results: list[PartResult]) -> None:
    """One audit row per study that received instances, one for the refused ones."""
    principal = current_principal(request)
    stored: dict[tuple[str, str], int] = {}
    for r in results:
        if r.failure_reason is None:
            key = (r.study_instance_uid, r.patient_id)
            stored[key] = stored.get(key, 0) + 1
    for (study, patient), count in stored.items():
        record_access(
            request,
            principal,
            audit.Outcome.SUCCESS,
            study_instance_uid=study,
            patient_id=patient,
            detail=f"STOW-RS stored {count} instance(s)",
        )
    failed = sum(1 for r in results if r.failure_reason is not None)
    if failed:
        record_access(
            request,
            principal,
            audit.Outcome.FAILURE,
            study_instance_uid=None,
            patient_id=None,
            detail=f"STOW-RS refused {failed} instance(s)",
        )


async def _store(request: Request, archive: Archive, base: str, study: str | None) -> Response:
    boundary = _check_request(request)
    limits = archive.settings.dicomweb
    results: list[PartResult] = []
    stream = _bounded(request.stream(), limits.stow_max_request_bytes)
    async for part in read_parts(stream, boundary, max_part_bytes=limits.stow_max_part_bytes):
        results.append(await run_in_threadpool(store_part, archive, part, study))
    if not results:
        raise MultipartError("the request holds no instances")
    await run_in_threadpool(_audit, request, results)
    return Response(
        dumps(response_body(base, results, study)).encode("utf-8"),
        status_code=http_status(results),
        media_type=DICOM_JSON,
        headers=PRIVATE_HEADERS,
    )


@router.post("/studies", summary="Store instances (STOW-RS)")
async def store_instances(request: Request, archive: ArchiveDep, base: BaseUrlDep) -> Response:
    return await _store(request, archive, base, None)


@router.post("/studies/{study}", summary="Store instances of one study (STOW-RS)")
async def store_study_instances(
    study: str, request: Request, archive: ArchiveDep, base: BaseUrlDep
) -> Response:
    return await _store(request, archive, base, check_uid(study))
