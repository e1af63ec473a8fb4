"""WADO-RS through dicomweb-client against a running server: instances, transcoding, metadata,
frames, bulk data, and the refusals (406, 404, 400)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit
from sqlalchemy import select

from pacs.index.models import Instance
from tests.gateway.dicomweb.conftest import XSS, Gateway

MR_LE = "transfer_syntaxes/mr_explicit_vr_le.dcm"
MR_J2K = "transfer_syntaxes/mr_j2k_lossless.dcm"
US_NO_BOT = "transfer_syntaxes/us_jpeg_baseline_fragmented_no_bot.dcm"
CT = "series/ct_head_ge_tilt/01.dcm"


def uids(gateway: Gateway, key: str) -> tuple[str, str, str]:
    ds = gateway.datasets[key]
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def test_retrieve_study_returns_every_instance_in_explicit_le_by_default(gateway: Gateway) -> None:
    study, _, _ = uids(gateway, MR_LE)
    instances = gateway.client().retrieve_study(study)
    expected = {
        ds.SOPInstanceUID for ds in gateway.datasets.values() if ds.StudyInstanceUID == study
    }
    assert {ds.SOPInstanceUID for ds in instances} == expected
    assert {ds.file_meta.TransferSyntaxUID for ds in instances} == {"1.2.840.10008.1.2.1"}


def test_transfer_syntax_star_returns_the_stored_bytes(
    gateway: Gateway, shared_dicom: Path
) -> None:
    study, series, sop = uids(gateway, MR_J2K)
    ds = gateway.client().retrieve_instance(
        study, series, sop, media_types=(("application/dicom", "*"),)
    )
    assert ds.file_meta.TransferSyntaxUID == JPEG2000Lossless
    original = dcmread(shared_dicom / MR_J2K)
    assert ds.PixelData == original.PixelData


def test_j2k_transcoded_to_uncompressed_equals_the_original_pixels(
    gateway: Gateway, shared_dicom: Path
) -> None:
    study, series, sop = uids(gateway, MR_J2K)
    ds = gateway.client().retrieve_instance(
        study, series, sop, media_types=(("application/dicom", "1.2.840.10008.1.2.1"),)
    )
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    uncompressed = dcmread(shared_dicom / MR_LE).pixel_array
    assert np.array_equal(ds.pixel_array, uncompressed)


def test_uncompressed_transcoded_to_j2k_lossless_round_trips(
    gateway: Gateway, shared_dicom: Path
) -> None:
    study, series, sop = uids(gateway, MR_LE)
    ds = gateway.client().retrieve_instance(
        study, series, sop, media_types=(("application/dicom", JPEG2000Lossless),)
    )
    assert ds.file_meta.TransferSyntaxUID == JPEG2000Lossless
    assert np.array_equal(ds.pixel_array, dcmread(shared_dicom / MR_LE).pixel_array)


def test_a_syntax_we_cannot_encode_is_406(gateway: Gateway) -> None:
    study, series, sop = uids(gateway, MR_LE)
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies/{study}/series/{series}/instances/{sop}",
        headers={
            "Accept": f'multipart/related; type="application/dicom"; '
            f"transfer-syntax={JPEGBaseline8Bit}"
        },
        timeout=30,
    )
    assert response.status_code == 406


def test_series_metadata_comes_from_the_index_with_absolute_bulk_data_uris(
    gateway: Gateway,
) -> None:
    study, series, _ = uids(gateway, CT)
    metadata = gateway.client().retrieve_series_metadata(study, series)
    assert len(metadata) == 3
    for item in metadata:
        assert item["0020000E"]["Value"] == [series]
        uri = item["7FE00010"]["BulkDataURI"]
        sop = item["00080018"]["Value"][0]
        assert uri == (
            f"{gateway.dicomweb_url}/studies/{study}/series/{series}/instances/{sop}"
            "/bulkdata/7FE00010"
        )
        assert item["00020010"]["Value"] == ["1.2.840.10008.1.2.1"]


def test_metadata_serving_does_not_read_files(gateway: Gateway) -> None:
    # Metadata is computed at ingest: with the instance file moved away it is still served,
    # while retrieving the instance itself needs the file.
    study, series, sop = uids(gateway, "modalities/dx_chest_canine_fuji.dcm")
    with gateway.archive.sessions() as session:
        key = session.scalar(select(Instance.file_key).where(Instance.sop_instance_uid == sop))
    assert key is not None
    path = gateway.archive.store.path(key)
    moved = path.with_suffix(".away")
    path.rename(moved)
    try:
        metadata = gateway.client().retrieve_instance_metadata(study, series, sop)
        assert metadata["00080018"]["Value"] == [sop]
    finally:
        moved.rename(path)


def test_frames_of_a_fragmented_jpeg_without_offset_table(
    gateway: Gateway, shared_dicom: Path
) -> None:
    study, series, sop = uids(gateway, US_NO_BOT)
    original = dcmread(shared_dicom / US_NO_BOT)
    expected = list(generate_frames(original.PixelData, number_of_frames=8))
    frames = gateway.client().retrieve_instance_frames(
        study, series, sop, [1, 3, 8], media_types=(("image/jpeg", JPEGBaseline8Bit),)
    )
    assert frames == [expected[0], expected[2], expected[7]]
    for frame in frames:
        assert frame[:2] == b"\xff\xd8"


def test_frames_uncompressed_on_request(gateway: Gateway, shared_dicom: Path) -> None:
    study, series, sop = uids(gateway, MR_J2K)
    frames = gateway.client().retrieve_instance_frames(
        study, series, sop, [1], media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),)
    )
    reference = dcmread(shared_dicom / MR_LE).pixel_array
    assert np.array_equal(
        np.frombuffer(frames[0], dtype=reference.dtype.newbyteorder("<")).reshape(reference.shape),
        reference,
    )


def _parts(response: Any) -> list[tuple[dict[str, str], bytes]]:
    """(headers, body) of each part of a multipart/related response."""
    boundary = re.search(r'boundary="?([^";]+)"?', response.headers["content-type"])
    assert boundary is not None
    out = []
    for chunk in response.content.split(b"--" + boundary.group(1).encode())[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        out.append((headers, data[:-2]))
    return out


def test_series_pixel_data_is_every_frame_with_its_url(
    gateway: Gateway, shared_dicom: Path
) -> None:
    study, series, _ = uids(gateway, CT)
    url = f"{gateway.dicomweb_url}/studies/{study}/series/{series}"
    response = gateway.http.get(
        f"{url}/pixeldata", timeout=30,
        headers={"Accept": 'multipart/related; type="application/octet-stream"; '
                           "transfer-syntax=1.2.840.10008.1.2.1"})
    assert response.status_code == 200, response.text
    assert "transfer-syntax=1.2.840.10008.1.2.1" in response.headers["content-type"]
    files = {dcmread(shared_dicom / k).SOPInstanceUID: dcmread(shared_dicom / k)
             for k in gateway.datasets if k.startswith("series/ct_head_ge_tilt/")}
    parts = _parts(response)
    assert len(parts) == len(files) == 3
    for headers, data in parts:
        location = headers["Content-Location"]
        assert location.startswith(f"{url}/instances/") and location.endswith("/frames/1")
        assert data == files[location.split("/")[-3]].PixelData


def test_series_pixel_data_as_stored_keeps_the_jpeg_frames(
    gateway: Gateway, shared_dicom: Path
) -> None:
    study, series, sop = uids(gateway, US_NO_BOT)
    original = dcmread(shared_dicom / US_NO_BOT)
    expected = list(generate_frames(original.PixelData, number_of_frames=8))
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies/{study}/series/{series}/pixeldata", timeout=30,
        headers={"Accept": 'multipart/related; type="image/jpeg"'})
    assert response.status_code == 200, response.text
    parts = _parts(response)
    assert [data for _, data in parts] == expected
    assert [h["Content-Location"].rsplit("/", 1)[1] for h, _ in parts] == [
        str(n) for n in range(1, 9)]
    assert all(sop in h["Content-Location"] for h, _ in parts)


def test_frame_number_out_of_range_is_400(gateway: Gateway) -> None:
    study, series, sop = uids(gateway, CT)
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies/{study}/series/{series}/instances/{sop}/frames/2",
        timeout=30,
    )
    assert response.status_code == 400


def test_bulkdata_returns_native_pixel_data(gateway: Gateway, shared_dicom: Path) -> None:
    study, series, sop = uids(gateway, CT)
    metadata = gateway.client().retrieve_instance_metadata(study, series, sop)
    data = gateway.client().retrieve_bulkdata(metadata["7FE00010"]["BulkDataURI"])
    assert data[0] == dcmread(shared_dicom / CT).PixelData


@pytest.mark.parametrize("bad", ["..", "1.2.3/../../etc", "abc", "1." * 40])
def test_non_uid_path_values_are_400(gateway: Gateway, bad: str) -> None:
    response = gateway.http.get(f"{gateway.dicomweb_url}/studies/{bad}/metadata", timeout=30)
    assert response.status_code in (400, 404)
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_study_is_404(gateway: Gateway) -> None:
    response = gateway.http.get(f"{gateway.dicomweb_url}/studies/1.2.3.4.5/metadata", timeout=30)
    assert response.status_code == 404


def test_xss_in_tags_comes_back_json_escaped(gateway: Gateway) -> None:
    study, series, sop = uids(gateway, "xss")
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies/{study}/series/{series}/instances/{sop}/metadata",
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom+json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert b"<script>" not in response.content
    assert b"\\u003cscript\\u003e" in response.content
    parsed = json.loads(response.content)
    assert parsed[0]["00100010"]["Value"][0]["Alphabetic"] == XSS
    assert parsed[0]["00081030"]["Value"] == [XSS]


def test_retrieved_file_is_a_valid_part10_file(gateway: Gateway) -> None:
    study, series, sop = uids(gateway, CT)
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies/{study}/series/{series}/instances/{sop}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/related")
    body = response.content
    start = body.index(b"\r\n\r\n") + 4
    end = body.rindex(b"\r\n--")
    ds = dcmread(io.BytesIO(body[start:end]))
    assert ds.SOPInstanceUID == sop
