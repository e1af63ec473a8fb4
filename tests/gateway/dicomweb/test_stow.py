"""STOW-RS through dicomweb-client: stored instances come back; a malformed file is refused with
a FailedSOPSequence and leaves nothing behind; the HTTP status follows PS3.18 10.5.3."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests
from pydicom import dcmread
from pydicom.uid import generate_uid

from gateway.dicomweb.multipart import OutPart, new_boundary, write_parts
from pacs.index.models import Instance
from tests.gateway.dicomweb.conftest import Gateway, variant

TRUNCATED = "malformed/rtplan_file_truncated.dcm"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILURE_REASON = "00081197"


def stored_files(gateway: Gateway) -> int:
    return sum(1 for p in gateway.archive.store.objects_dir.rglob("*") if p.is_file())


def instance_count(gateway: Gateway) -> int:
    with gateway.archive.sessions() as session:
        return session.query(Instance).count()


def post(gateway: Gateway, bodies: list[bytes], path: str = "/studies") -> requests.Response:
    boundary = new_boundary()
    body = b"".join(write_parts([OutPart("application/dicom", [b]) for b in bodies], boundary))
    return gateway.http.post(
        f"{gateway.dicomweb_url}{path}",
        data=body,
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'
        },
        timeout=60,
    )


def test_store_instances_then_retrieve_them(gateway: Gateway, shared_dicom: Path) -> None:
    raw = (shared_dicom / "series/ct_head_ge_tilt/04.dcm").read_bytes()
    new = variant(raw, PatientID="STOW1")
    ds = dcmread(io.BytesIO(new))
    result = gateway.client().store_instances([ds])
    referenced = result.ReferencedSOPSequence
    assert [item.ReferencedSOPInstanceUID for item in referenced] == [ds.SOPInstanceUID]
    assert "FailedSOPSequence" not in result
    back = gateway.client().retrieve_instance(
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        media_types=(("application/dicom", "*"),),
    )
    assert back.PixelData == ds.PixelData
    # The same instance again: the duplicate policy of C-STORE (one copy kept, Success).
    files = stored_files(gateway)
    again = gateway.client().store_instances([ds])
    assert [i.ReferencedSOPInstanceUID for i in again.ReferencedSOPSequence] == [ds.SOPInstanceUID]
    assert stored_files(gateway) == files


def test_malformed_file_is_refused_and_nothing_is_stored(
    gateway: Gateway, shared_dicom: Path
) -> None:
    files, rows = stored_files(gateway), instance_count(gateway)
    response = post(gateway, [(shared_dicom / TRUNCATED).read_bytes()])
    assert response.status_code == 409
    failed = response.json()[FAILED_SOP_SEQUENCE]["Value"]
    assert len(failed) == 1
    assert 0xC000 <= failed[0][FAILURE_REASON]["Value"][0] <= 0xCFFF
    assert REFERENCED_SOP_SEQUENCE not in response.json()
    assert stored_files(gateway) == files
    assert instance_count(gateway) == rows
    assert not any(gateway.archive.store.tmp_dir.iterdir())


def test_malformed_file_through_dicomweb_client_raises_409(
    gateway: Gateway, shared_dicom: Path
) -> None:
    ds = dcmread(shared_dicom / TRUNCATED, force=True)
    files = stored_files(gateway)
    with pytest.raises(requests.HTTPError) as failure:
        gateway.client().store_instances([ds])
    assert failure.value.response.status_code == 409
    assert stored_files(gateway) == files


def test_mixed_request_is_202_with_both_sequences(gateway: Gateway, shared_dicom: Path) -> None:
    good = variant((shared_dicom / "series/ct_head_ge_tilt/05.dcm").read_bytes())
    bad = (shared_dicom / TRUNCATED).read_bytes()
    response = post(gateway, [good, bad])
    assert response.status_code == 202
    body = response.json()
    assert len(body[REFERENCED_SOP_SEQUENCE]["Value"]) == 1
    assert len(body[FAILED_SOP_SEQUENCE]["Value"]) == 1


def test_instance_of_another_study_is_refused_with_a900(
    gateway: Gateway, shared_dicom: Path
) -> None:
    raw = variant((shared_dicom / "series/ct_head_ge_tilt/06.dcm").read_bytes())
    response = post(gateway, [raw], path=f"/studies/{generate_uid()}")
    assert response.status_code == 409
    reason = response.json()[FAILED_SOP_SEQUENCE]["Value"][0][FAILURE_REASON]["Value"][0]
    assert reason == 0xA900


def test_storage_full_is_a700(gateway: Gateway, shared_dicom: Path) -> None:
    raw = variant((shared_dicom / "series/ct_head_ge_tilt/07.dcm").read_bytes())
    store = gateway.archive.store
    saved = store.min_free_bytes
    store.min_free_bytes = 2**62  # more free space than any disk has: the store refuses
    try:
        response = post(gateway, [raw])
    finally:
        store.min_free_bytes = saved
    assert response.status_code == 409
    reason = response.json()[FAILED_SOP_SEQUENCE]["Value"][0][FAILURE_REASON]["Value"][0]
    assert reason == 0xA700


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/dicom", 415),
        ('multipart/related; type="application/dicom+xml"; boundary=x', 415),
        ('multipart/related; type="application/dicom"', 400),
    ],
)
def test_bad_request_bodies(gateway: Gateway, content_type: str, status: int) -> None:
    response = gateway.http.post(
        f"{gateway.dicomweb_url}/studies",
        data=b"--x\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--x--\r\n",
        headers={"Content-Type": content_type},
        timeout=30,
    )
    assert response.status_code == status


def test_body_without_closing_delimiter_is_400(gateway: Gateway) -> None:
    response = gateway.http.post(
        f"{gateway.dicomweb_url}/studies",
        data=b"--x\r\nContent-Type: application/dicom\r\n\r\nabc",
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=x'},
        timeout=30,
    )
    assert response.status_code == 400


def test_part_that_is_not_dicom_fails_with_c000(gateway: Gateway) -> None:
    response = post(gateway, [b"\x00" * 200 + b"not dicom"])
    assert response.status_code == 409
    reason = response.json()[FAILED_SOP_SEQUENCE]["Value"][0][FAILURE_REASON]["Value"][0]
    assert reason == 0xC000


def test_part_over_the_size_limit_is_413_and_nothing_is_stored(
    gateway: Gateway, shared_dicom: Path
) -> None:
    raw = variant((shared_dicom / "series/ct_head_ge_tilt/08.dcm").read_bytes())
    files = stored_files(gateway)
    limits = gateway.settings.dicomweb
    saved = limits.stow_max_part_bytes
    limits.stow_max_part_bytes = 64 * 1024  # the CT slice is about 520 kB
    try:
        response = post(gateway, [raw])
    finally:
        limits.stow_max_part_bytes = saved
    assert response.status_code == 413
    assert stored_files(gateway) == files
