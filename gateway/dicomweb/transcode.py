"""Transfer syntax conversion for WADO-RS (PS3.18 8.7.3.5): decode with pydicom's plugins,
encode to an uncompressed or a lossless compressed syntax that pydicom can write.

Only lossless targets are offered: a lossy re-encode of a diagnostic image is never done
silently. Stored files are never modified; conversion happens on a copy in memory.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder, get_encoder
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from pacs.index.ingest import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from pacs.transcode import MAX_DECODED_BYTES

UNCOMPRESSED_TARGETS = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
COMPRESSED_TARGETS = frozenset({RLELossless, JPEG2000Lossless, JPEGLSLossless})


class TranscodeError(RuntimeError):
    """The stored object could not be converted (a decoder or encoder failed)."""


def can_decode(stored: str) -> bool:
    uid = UID(stored)
    if not uid.is_compressed:
        return True
    try:
        return bool(get_decoder(uid).is_available)
    except (NotImplementedError, ValueError):
        return False


def can_encode(target: str) -> bool:
    uid = UID(target)
    if uid in UNCOMPRESSED_TARGETS:
        return True
    if uid not in COMPRESSED_TARGETS:
        return False
    try:
        return bool(get_encoder(uid).is_available)
    except (NotImplementedError, ValueError):
        return False


def can_transcode(stored: str, target: str, *, has_pixels: bool = True) -> bool:
    """Whether an object stored in `stored` can be served in `target`."""
    if stored == target:
        return True
    if not has_pixels:
        # Non-image objects change only their encoding, which pydicom always writes.
        return UID(target) in UNCOMPRESSED_TARGETS or can_encode(target)
    return can_decode(stored) and can_encode(target)


def decoded_size(ds: Dataset) -> int:
    """Bytes the native Pixel Data of `ds` takes, from its header (0 without pixels)."""
    if "PixelData" not in ds:
        return 0
    try:
        frames = max(int(ds.get("NumberOfFrames") or 1), 1)
        return (
            int(ds.Rows)
            * int(ds.Columns)
            * int(ds.get("SamplesPerPixel") or 1)
            * frames
            * max(int(ds.BitsAllocated), 8)
            // 8
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise TranscodeError(f"pixel description incomplete: {exc}") from exc


def to_native_little_endian(ds: Dataset) -> Dataset:
    """Convert `ds` in place to native pixels, Explicit VR Little Endian encoding.

    Raises TranscodeError when the header declares more pixel data than MAX_DECODED_BYTES
    (checked before anything is decoded: a hostile header cannot make us allocate it).
    """
    ts = UID(ds.file_meta.TransferSyntaxUID)
    if decoded_size(ds) > MAX_DECODED_BYTES:
        raise TranscodeError("decoded pixel data would exceed the size limit")
    if "PixelData" in ds and ts.is_compressed:
        # A lossless conversion is the same instance: it keeps its SOP Instance UID.
        ds.decompress(as_rgb=True, generate_instance_uid=False)  # YBR becomes RGB
        return ds
    for _ in ds.iterall():
        pass  # implicit VR elements get their dictionary VR before an explicit write
    if "PixelData" in ds and not ts.is_little_endian:
        arr = ds.pixel_array
        arr = arr.astype(arr.dtype.newbyteorder("<"))
        ds.set_original_encoding(False, True, ds.original_character_set)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.set_pixel_data(arr, ds.PhotometricInterpretation, int(ds.BitsStored))
    ds.set_original_encoding(False, True, ds.original_character_set)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def transcode(source: BinaryIO, target: str) -> bytes:
    """Read a Part 10 file and return it re-encoded in `target` (a Part 10 file).

    Raises TranscodeError when decoding or encoding fails.
    """
    try:
        ds = dcmread(source)
        to_native_little_endian(ds)
        uid = UID(target)
        if uid == ImplicitVRLittleEndian:
            ds.set_original_encoding(True, True, ds.original_character_set)
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        elif uid in COMPRESSED_TARGETS and "PixelData" in ds:
            ds.compress(uid, generate_instance_uid=False)
        elif uid in COMPRESSED_TARGETS:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
        ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
    except TranscodeError:
        raise
    except Exception as exc:  # decoder/encoder plugins raise many types; all mean "cannot"
        raise TranscodeError(f"cannot convert to {target}: {type(exc).__name__}: {exc}") from exc
    finally:
        source.close()
    return out.getvalue()
