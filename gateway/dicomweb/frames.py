"""Frame-level access to stored instances (PS3.18 10.4.1.1.5 frames, 10.4.1.1.6 bulk data).

Encapsulated Pixel Data (PS3.5 A.4) is split into frames with pydicom's frame generator, which
joins several fragments per frame and copes with an empty Basic Offset Table (it then uses the
JPEG markers, or the Extended Offset Table when present). Native Pixel Data is sliced by offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

MAX_FRAMES_PER_REQUEST = 1024


class FrameError(ValueError):
    """Frame numbers missing, malformed or outside 1..NumberOfFrames (HTTP 400/404)."""


class FrameDecodeError(RuntimeError):
    """The stored pixel data cannot be split or decoded into the frames asked for (HTTP 406:
    the representation asked for cannot be produced)."""


class NoPixelData(LookupError):
    """The instance has no Pixel Data (HTTP 404 for frame requests)."""


def parse_frame_list(value: str) -> list[int]:
    """``"1,3,5"`` → ``[1, 3, 5]``; frame numbers are 1-based (PS3.18 8.3.3.2)."""
    try:
        numbers = [int(part) for part in value.split(",")]
    except ValueError as exc:
        raise FrameError("frame list must be comma-separated positive integers") from exc
    if not numbers or min(numbers) < 1 or len(numbers) > MAX_FRAMES_PER_REQUEST:
        raise FrameError("frame numbers start at 1; at most 1024 per request")
    return numbers


def number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def read_instance(fileobj: Any) -> Dataset:
    try:
        return dcmread(fileobj)
    finally:
        fileobj.close()


def _check(ds: Dataset, numbers: Sequence[int]) -> int:
    if "PixelData" not in ds:
        raise NoPixelData("instance has no Pixel Data")
    count = number_of_frames(ds)
    if max(numbers) > count:
        raise FrameError(f"instance has {count} frame(s)")
    return count


def stored_frames(ds: Dataset, numbers: Sequence[int]) -> list[bytes]:
    """The requested frames as stored: compressed bitstreams, or native little-endian bytes."""
    count = _check(ds, numbers)
    ts = UID(ds.file_meta.TransferSyntaxUID)
    if not ts.is_compressed:
        return native_frames(ds, numbers)
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    wanted = set(numbers)
    found: dict[int, bytes] = {}
    frames = generate_frames(ds.PixelData, number_of_frames=count, extended_offsets=extended)
    try:
        for index, frame in enumerate(frames, 1):
            if index in wanted:
                found[index] = frame
            if index >= max(wanted):
                break
    except Exception as exc:  # malformed encapsulation: offsets or items that do not add up
        raise FrameDecodeError(f"encapsulated pixel data is malformed: {exc}") from exc
    missing = wanted - found.keys()
    if missing:
        raise FrameError(f"frame(s) {sorted(missing)} not present in the encapsulated data")
    return [found[n] for n in numbers]


def native_frames(ds: Dataset, numbers: Sequence[int]) -> list[bytes]:
    """The requested frames decoded to native pixels, little endian (Explicit VR LE layout)."""
    _check(ds, numbers)
    ts = UID(ds.file_meta.TransferSyntaxUID)
    bits = int(ds.get("BitsAllocated") or 0)
    if not ts.is_compressed and ts.is_little_endian and bits % 8 == 0 and bits:
        size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1) * bits // 8
        data = ds.PixelData
        return [bytes(data[(n - 1) * size : n * size]) for n in numbers]
    out: list[bytes] = []
    for n in numbers:
        try:
            arr = pixel_array(ds, index=n - 1, as_rgb=True)
        except Exception as exc:  # pixel plugins raise many types; all mean "cannot decode"
            raise FrameDecodeError(f"frame {n} cannot be decoded: {type(exc).__name__}") from exc
        out.append(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())
    return out


def bulk_element(ds: Dataset, tag_hex: str) -> bytes:
    """The value of the element a stored BulkDataURI names (``bulkdata/GGGGEEEE``).

    Top-level elements first; elements inside sequences are found depth first (the URI does not
    say which item, so the first occurrence is served).
    """
    try:
        tag = Tag(int(tag_hex, 16))
    except ValueError as exc:
        raise FrameError("bulk data tag must be 8 hexadecimal digits") from exc
    element = ds.get(tag) if tag in ds else _find_nested(ds, tag)
    if element is None:
        raise NoPixelData(f"no bulk data element {tag_hex}")
    value = element.value
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise NoPixelData(f"element {tag_hex} is not bulk data")


def _find_nested(ds: Dataset, tag: BaseTag) -> Any:
    for element in ds.iterall():
        if element.tag == tag:
            return element
    return None
