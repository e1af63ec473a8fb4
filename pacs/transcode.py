"""Send a stored instance in a transfer syntax the peer accepted (C-GET, C-MOVE).

Instances are stored as received. When a peer cannot take the stored syntax, a compressed
instance is decompressed with pydicom's pixel backends (pylibjpeg, openjpeg, libjpeg, RLE,
JPEG-LS) into Explicit or Implicit VR Little Endian. Decoding is refused beyond a size cap so a
hostile header cannot make us allocate unbounded memory.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pacs.errors import PacsError

# Largest decoded pixel data we produce for one instance (reliability: decompression bombs).
MAX_DECODED_BYTES = 2 * 1024**3
_UNCOMPRESSED_LE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


class TranscodeFailed(PacsError):
    """No accepted transfer syntax can carry the instance, or decoding it failed."""

    dimse_status = 0xA702  # sub-operation failed (counted per instance)
    http_status = 406


def target_syntax(stored: str, accepted: Collection[str]) -> str | None:
    """The syntax to send `stored` in: itself if accepted, else an accepted uncompressed LE one."""
    ts = UID(stored)
    if stored in accepted:
        return stored
    if not ts.is_compressed and ts.is_little_endian:
        # Explicit <-> Implicit VR Little Endian is a re-encoding pydicom does on write.
        for candidate in _UNCOMPRESSED_LE:
            if candidate in accepted:
                return str(candidate)
        return None
    if ts.is_compressed:
        for candidate in _UNCOMPRESSED_LE:
            if candidate in accepted:
                return str(candidate)
    return None


def _check_size(ds: Dataset) -> None:
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        size = (
            int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1)
            * max(frames, 1) * max(int(ds.BitsAllocated), 8) // 8
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise TranscodeFailed(f"pixel description incomplete: {exc}") from exc
    if size > MAX_DECODED_BYTES:
        raise TranscodeFailed(f"decoded pixel data would be {size} bytes")


def load_for_peer(path: Path, stored_syntax: str, accepted: Collection[str]) -> Dataset:
    """Read the stored file and return it ready to send in a syntax from `accepted`.

    Raises TranscodeFailed when no accepted syntax fits or the pixel data cannot be decoded.
    """
    target = target_syntax(stored_syntax, accepted)
    if target is None:
        raise TranscodeFailed(
            f"the peer accepts none of the syntaxes this instance can be sent in "
            f"(stored as {UID(stored_syntax).name})"
        )
    ds = dcmread(path)
    if target == stored_syntax:
        return ds
    if UID(stored_syntax).is_compressed:
        _check_size(ds)
        try:
            # A change of transfer syntax is the same instance (PS3.5 10): keep its UID.
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # each pixel backend raises its own types
            raise TranscodeFailed(f"cannot decompress: {type(exc).__name__}: {exc}") from exc
    meta = ds.file_meta if ds.file_meta is not None else FileMetaDataset()
    meta.TransferSyntaxUID = UID(target)
    ds.file_meta = meta
    return ds
