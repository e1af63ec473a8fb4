"""Rendering of image frames to consumer formats (PS3.18 8.3.5, 10.4.1.1.3 rendered, .4 thumbnail).

The grayscale pipeline is the one PS3.3 C.11 prescribes: stored values → Modality LUT (Rescale
Slope/Intercept or a Modality LUT Sequence) → VOI LUT (the requested window, else the header's
VOI LUT Sequence or first Window Center/Width with its VOI LUT Function, else the frame's range)
→ 8-bit presentation, inverted for MONOCHROME1. Colour frames are converted to RGB (YBR via
pydicom, PALETTE COLOR through its lookup tables).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import UID

from gateway.dicomweb.frames import FrameError, NoPixelData, number_of_frames
from gateway.dicomweb.transcode import TranscodeError

WINDOW_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
MAX_VIEWPORT = 4096
MAX_FRAME_PIXELS = 64 * 1024 * 1024  # a frame larger than this is refused, never decoded
THUMBNAIL_SIZE = 128


class RenderParameterError(ValueError):
    """A rendering query parameter is malformed (HTTP 400)."""


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True)
class RenderParams:
    media_type: str = "image/jpeg"
    quality: int = 90
    window: Window | None = None
    viewport: tuple[int, int] | None = None


def parse_params(
    media_type: str, window: str | None, viewport: str | None, quality: str | None
) -> RenderParams:
    """Query parameters → RenderParams; raises RenderParameterError saying what is wrong."""
    try:
        return _parse_params(media_type, window, viewport, quality)
    except RenderParameterError:
        raise
    except ValueError as exc:  # float()/int() of a malformed number
        raise RenderParameterError("window, viewport and quality take numbers") from exc


def _parse_params(
    media_type: str, window: str | None, viewport: str | None, quality: str | None
) -> RenderParams:
    parsed_window: Window | None = None
    if window:
        parts = [p.strip() for p in window.split(",")]
        if len(parts) not in (2, 3):
            raise RenderParameterError("window is center,width[,function]")
        center, width = float(parts[0]), float(parts[1])
        function = parts[2].upper() if len(parts) == 3 else "LINEAR"
        if function not in WINDOW_FUNCTIONS or not (math.isfinite(center) and width > 0):
            raise RenderParameterError(
                "window width must be > 0, function LINEAR, LINEAR_EXACT or SIGMOID"
            )
        parsed_window = Window(center, width, function)
    parsed_viewport: tuple[int, int] | None = None
    if viewport:
        parts = [p.strip() for p in viewport.split(",")]
        if len(parts) < 2:
            raise RenderParameterError("viewport is vw,vh")
        vw, vh = int(parts[0]), int(parts[1])
        if not (0 < vw <= MAX_VIEWPORT and 0 < vh <= MAX_VIEWPORT):
            raise RenderParameterError(f"viewport dimensions are 1..{MAX_VIEWPORT}")
        parsed_viewport = (vw, vh)
    q = 90
    if quality:
        q = int(quality)
        if not 1 <= q <= 100:
            raise RenderParameterError("quality is 1..100")
    return RenderParams(media_type, q, parsed_window, parsed_viewport)


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2 window functions, output 0..255 (float)."""
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    if window.function == "LINEAR_EXACT":
        return np.clip(((values - c) / w + 0.5) * 255.0, 0, 255)
    w = max(w, 1.0)
    return np.clip(((values - (c - 0.5)) / max(w - 1.0, 1e-6) + 0.5) * 255.0, 0, 255)


def _first(value: object) -> float:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0]  # type: ignore[index]
    return float(value)  # type: ignore[arg-type]


def header_window(ds: Dataset) -> Window | None:
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    try:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    except (TypeError, ValueError, IndexError):
        return None
    function = str(ds.get("VOILUTFunction") or "LINEAR").upper()
    if width <= 0 or function not in WINDOW_FUNCTIONS:
        return None
    return Window(center, width, function)


def modality_values(ds: Dataset, stored: np.ndarray) -> np.ndarray:
    """PS3.3 C.11.1: Rescale Slope/Intercept (float32 arithmetic), or the Modality LUT."""
    if "ModalityLUTSequence" in ds:
        return apply_modality_lut(stored, ds).astype(np.float64)
    values = stored.astype(np.float32)
    slope = float(ds.get("RescaleSlope") or 1.0)
    intercept = float(ds.get("RescaleIntercept") or 0.0)
    if slope != 1.0:
        values *= slope
    if intercept:
        values += intercept
    return values


def grayscale(ds: Dataset, stored: np.ndarray, window: Window | None) -> np.ndarray:
    """Stored values → 8-bit display values (PS3.3 C.11: Modality LUT, VOI LUT, polarity).

    Every step is a function of the stored value alone, so an integer image is mapped through a
    table computed once per distinct value in its range (a few thousand for CT) rather than
    through five floating-point passes over every pixel: the same bytes, several times faster.
    """
    if stored.dtype.kind in "iu" and stored.dtype.itemsize <= 2 and stored.size:
        low, high = int(stored.min()), int(stored.max())
        if (high - low + 1) * 4 <= stored.size:
            values = np.arange(low, high + 1, dtype=stored.dtype)
            # Indexed by the stored bits read as unsigned (a view, no arithmetic over the
            # image): a signed value -v sits at 2**bits - v, so the table spans every pattern.
            unsigned = np.dtype(f"u{stored.dtype.itemsize}")
            table = np.zeros(1 << (8 * stored.dtype.itemsize), np.uint8)
            table[values.view(unsigned)] = _grayscale_values(ds, values, window)
            return np.take(table, stored.view(unsigned))
    return _grayscale_values(ds, stored, window)


def _grayscale_values(ds: Dataset, stored: np.ndarray, window: Window | None) -> np.ndarray:
    values = modality_values(ds, stored)
    if window is not None:
        out = apply_window(values, window)
    elif "VOILUTSequence" in ds:
        item = ds.VOILUTSequence[0]
        bits = int(item.LUTDescriptor[2]) or 16
        out = apply_voi_lut(values, ds, index=0, prefer_lut=True).astype(np.float64)
        out = out * (255.0 / (2**bits - 1))
    elif (hw := header_window(ds)) is not None:
        out = apply_window(values, hw)
    else:
        low, high = float(values.min()), float(values.max())
        out = (values - low) * (255.0 / (high - low)) if high > low else values * 0.0
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        out = 255.0 - out
    return np.clip(out, 0, 255).astype(np.uint8)


def _to_8bit(arr: np.ndarray, bits: int) -> np.ndarray:
    if arr.dtype == np.uint8 or bits <= 8:
        return arr.astype(np.uint8)
    return (arr.astype(np.uint32) >> (bits - 8)).astype(np.uint8)


def frame_image(ds: Dataset, index: int, window: Window | None) -> Image.Image:
    """Decode frame `index` (0-based) and present it as an 8-bit Pillow image."""
    if "PixelData" not in ds:
        raise NoPixelData("instance has no Pixel Data")
    if index >= number_of_frames(ds):
        raise FrameError(f"instance has {number_of_frames(ds)} frame(s)")
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows * cols * int(ds.get("SamplesPerPixel") or 1) > MAX_FRAME_PIXELS:
        raise FrameError("frame too large to render")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    try:
        arr = _native_grayscale(ds, index, rows, cols)
        if arr is None:
            arr = pixel_array(ds, index=index, as_rgb=True)
        if photometric == "PALETTE COLOR":
            rgb = apply_color_lut(arr, ds)
            bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            return Image.fromarray(_to_8bit(rgb, bits), "RGB")
        if arr.ndim == 3:  # RGB after pydicom's colour-space conversion
            return Image.fromarray(_to_8bit(arr, int(ds.get("BitsStored") or 8)), "RGB")
        return Image.fromarray(grayscale(ds, arr, window), "L")
    except Exception as exc:  # pixel plugins and LUT code raise many types: "cannot render"
        raise TranscodeError(f"frame cannot be decoded: {type(exc).__name__}") from exc


def _native_grayscale(ds: Dataset, index: int, rows: int, cols: int) -> np.ndarray | None:
    """A native little-endian grayscale frame viewed in place (no decoder), or None."""
    ts = UID(ds.file_meta.TransferSyntaxUID)
    bits = int(ds.get("BitsAllocated") or 0)
    if (
        ts.is_compressed
        or not ts.is_little_endian
        or int(ds.get("SamplesPerPixel") or 1) != 1
        or bits not in (8, 16)
        or int(ds.get("BitsStored") or 0) != bits  # otherwise pydicom masks / sign-extends
        or not str(ds.get("PhotometricInterpretation", "")).startswith("MONOCHROME")
    ):
        return None
    kind = "i" if int(ds.get("PixelRepresentation") or 0) else "u"
    dtype = np.dtype(f"<{kind}{bits // 8}")
    count = rows * cols
    data = ds.PixelData
    if len(data) < (index + 1) * count * dtype.itemsize:
        return None
    return np.frombuffer(data, dtype, count, index * count * dtype.itemsize).reshape(rows, cols)


def fit(image: Image.Image, viewport: tuple[int, int]) -> Image.Image:
    """Scale to fit inside the viewport, keeping the aspect ratio (PS3.18 8.3.5.1.3)."""
    vw, vh = viewport
    scale = min(vw / image.width, vh / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def encode(image: Image.Image, params: RenderParams) -> bytes:
    if params.viewport:
        image = fit(image, params.viewport)
    out = io.BytesIO()
    if params.media_type == "image/png":
        image.save(out, format="PNG")
    else:
        image.save(out, format="JPEG", quality=params.quality)
    return out.getvalue()


def render(ds: Dataset, index: int, params: RenderParams) -> bytes:
    """One frame of `ds` as a JPEG or PNG."""
    return encode(frame_image(ds, index, params.window), params)
