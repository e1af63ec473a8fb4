"""Rendered and thumbnail resources, and WADO-URI: LUT pipeline, polarity, colour, parameters."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from tests.gateway.dicomweb.conftest import Gateway, part10_to_ingest, variant

DX_MONOCHROME1 = "modalities/dx_chest_canine_fuji.dcm"
PALETTE = "modalities/us_palette_color_philips.dcm"
US_MULTIFRAME = "transfer_syntaxes/us_jpeg_baseline_fragmented_no_bot.dcm"
CT = "series/ct_head_ge_tilt/01.dcm"


def instance_path(gateway: Gateway, key: str) -> str:
    ds = gateway.datasets[key]
    return (
        f"{gateway.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


def get_image(gateway: Gateway, url: str, accept: str = "image/png", **params: str) -> np.ndarray:
    response = gateway.http.get(url, params=params, headers={"Accept": accept}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == accept
    return np.asarray(Image.open(io.BytesIO(response.content)))


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 linear window to 0..255, written out independently of the server."""
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    out = np.where(values <= low, 0, np.where(values > high, 255, out))
    return out


def test_monochrome1_is_inverted(gateway: Gateway, shared_dicom: Path) -> None:
    ds = dcmread(shared_dicom / DX_MONOCHROME1)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    stored = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    as_monochrome2 = linear_window(stored, float(ds.WindowCenter), float(ds.WindowWidth))
    image = get_image(gateway, instance_path(gateway, DX_MONOCHROME1) + "/rendered").astype(
        np.float64
    )
    assert image.shape == stored.shape
    # Inverted: bright where MONOCHROME2 would be dark, pixel for pixel.
    assert abs(image.mean() - (255 - as_monochrome2.mean())) < 1.0
    assert np.abs(image - (255 - as_monochrome2)).max() <= 1.0


def test_modality_lut_is_applied_before_the_window(gateway: Gateway, shared_dicom: Path) -> None:
    # The same pixels stored with Rescale Intercept -1024 and a window moved by -1024 must look
    # exactly like the original: the server applies the rescale before the window.
    raw = (shared_dicom / CT).read_bytes()
    original = dcmread(io.BytesIO(raw))
    shifted = variant(
        raw,
        RescaleIntercept="-1024",
        WindowCenter=str(float(original.WindowCenter) - 1024),
        WindowWidth=str(original.WindowWidth),
    )
    part10_to_ingest(gateway.archive, shifted)
    ds = dcmread(io.BytesIO(shifted))
    shifted_url = (
        f"{gateway.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/rendered"
    )
    assert np.array_equal(
        get_image(gateway, shifted_url),
        get_image(gateway, instance_path(gateway, CT) + "/rendered"),
    )


def test_window_parameter_overrides_the_header(gateway: Gateway, shared_dicom: Path) -> None:
    ds = dcmread(shared_dicom / CT)
    values = ds.pixel_array.astype(np.float64)
    image = get_image(gateway, instance_path(gateway, CT) + "/rendered", window="400,1500,LINEAR")
    assert np.abs(image - linear_window(values, 400, 1500)).max() <= 1.0


def test_palette_colour_renders_in_colour(gateway: Gateway) -> None:
    image = get_image(gateway, instance_path(gateway, PALETTE) + "/rendered")
    assert image.ndim == 3 and image.shape[2] == 3
    assert np.any(image[..., 0] != image[..., 2])


def test_multiframe_frames_render_separately(gateway: Gateway) -> None:
    base = instance_path(gateway, US_MULTIFRAME)
    first = get_image(gateway, f"{base}/frames/1/rendered")
    last = get_image(gateway, f"{base}/frames/8/rendered")
    assert first.shape == (240, 320, 3)
    assert not np.array_equal(first, last)


def test_viewport_and_quality(gateway: Gateway) -> None:
    url = instance_path(gateway, CT) + "/rendered"
    small = get_image(gateway, url, viewport="100,50")
    assert small.shape == (50, 50)
    low = gateway.http.get(
        url, params={"quality": "10"}, headers={"Accept": "image/jpeg"}, timeout=30
    )
    high = gateway.http.get(
        url, params={"quality": "95"}, headers={"Accept": "image/jpeg"}, timeout=30
    )
    assert low.content[:2] == high.content[:2] == b"\xff\xd8"
    assert len(low.content) < len(high.content)


def test_thumbnails_are_small(gateway: Gateway) -> None:
    ds = gateway.datasets[CT]
    for url in (
        f"{gateway.dicomweb_url}/studies/{ds.StudyInstanceUID}/thumbnail",
        f"{gateway.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        "/thumbnail",
        instance_path(gateway, CT) + "/thumbnail",
    ):
        image = get_image(gateway, url)
        assert max(image.shape[:2]) == 128


def test_dicomweb_client_retrieve_instance_rendered(gateway: Gateway) -> None:
    ds = gateway.datasets[DX_MONOCHROME1]
    jpeg = gateway.client().retrieve_instance_rendered(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, media_types=("image/jpeg",)
    )
    assert Image.open(io.BytesIO(jpeg)).size == (ds.Columns, ds.Rows)


def test_series_rendered_has_one_part_per_instance(gateway: Gateway) -> None:
    ds = gateway.datasets[CT]
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        "/rendered",
        headers={"Accept": "image/jpeg"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith('multipart/related; type="image/jpeg"')
    assert response.content.count(b"Content-Type: image/jpeg") == 3


@pytest.mark.parametrize(
    ("params", "accept", "status"),
    [
        ({"window": "abc"}, "image/jpeg", 400),
        ({"window": "40,0"}, "image/jpeg", 400),
        ({"window": "40,400,CUBIC"}, "image/jpeg", 400),
        ({"viewport": "0,10"}, "image/jpeg", 400),
        ({"quality": "1000"}, "image/jpeg", 400),
        ({}, "image/gif", 406),
    ],
)
def test_bad_rendering_requests(
    gateway: Gateway, params: dict[str, str], accept: str, status: int
) -> None:
    response = gateway.http.get(
        instance_path(gateway, CT) + "/rendered",
        params=params,
        headers={"Accept": accept},
        timeout=30,
    )
    assert response.status_code == status


def test_wado_uri(gateway: Gateway, shared_dicom: Path) -> None:
    ds = gateway.datasets[CT]
    query = {
        "requestType": "WADO",
        "studyUID": ds.StudyInstanceUID,
        "seriesUID": ds.SeriesInstanceUID,
        "objectUID": ds.SOPInstanceUID,
    }
    url = f"{gateway.dicomweb_url}/wado"
    part10 = gateway.http.get(url, params={**query, "contentType": "application/dicom"}, timeout=30)
    assert part10.status_code == 200
    assert part10.headers["content-type"] == "application/dicom"
    served = dcmread(io.BytesIO(part10.content))
    assert served.SOPInstanceUID == ds.SOPInstanceUID
    assert served.PixelData == dcmread(shared_dicom / CT).PixelData
    jpeg = gateway.http.get(url, params={**query, "rows": "64"}, timeout=30)
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).size == (64, 64)
    wrong = gateway.http.get(url, params={**query, "requestType": "OTHER"}, timeout=30)
    assert wrong.status_code == 400


def test_undecodable_pixels_are_406_not_500(gateway: Gateway, shared_dicom: Path) -> None:
    # pylibjpeg rejects this JPEG's scan header; the archive keeps the file as received.
    raw = (shared_dicom / "malformed/nm_jpeg_extended_invalid_sos.dcm").read_bytes()
    part10_to_ingest(gateway.archive, raw)
    ds = dcmread(io.BytesIO(raw), stop_before_pixels=True)
    base = (
        f"{gateway.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    rendered = gateway.http.get(f"{base}/rendered", timeout=30)
    assert rendered.status_code == 406
    frames = gateway.http.get(
        f"{base}/frames/1",
        headers={"Accept": 'multipart/related; type="application/octet-stream"'},
        timeout=30,
    )
    assert frames.status_code == 406
    as_stored = gateway.http.get(
        f"{base}/frames/1",
        headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'},
        timeout=30,
    )
    assert as_stored.status_code == 200


@pytest.mark.parametrize("window", [None, (40.0, 400.0, "LINEAR"), (40.0, 80.0, "SIGMOID"),
                                    (1000.0, 4000.0, "LINEAR_EXACT")])
def test_table_mapping_gives_the_same_pixels_as_per_pixel_arithmetic(
    shared_dicom: Path, window: tuple[float, float, str] | None
) -> None:
    """Integer images go through a per-value table; it must equal the per-pixel pipeline
    (Modality LUT, VOI, polarity) on every real native grayscale image of the corpus."""
    from gateway.dicomweb.frames import read_instance
    from gateway.dicomweb.render import Window, _grayscale_values, _native_grayscale, grayscale

    voi = Window(*window) if window else None
    compared = 0
    for path in sorted(shared_dicom.rglob("*.dcm")):
        if "malformed" in path.parts:
            continue
        with path.open("rb") as f:
            ds = read_instance(f)
        if "PixelData" not in ds:
            continue
        stored = _native_grayscale(ds, 0, int(ds.Rows), int(ds.Columns))
        if stored is None:
            continue
        assert np.array_equal(grayscale(ds, stored, voi), _grayscale_values(ds, stored, voi)), path
        compared += 1
    assert compared >= 10
