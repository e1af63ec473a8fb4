"""pynetdicom as a second peer: sends a file's bytes exactly as stored (even malformed ones),
for SOP classes or defects that DCMTK's storescu refuses to send itself."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID
from pynetdicom import AE, _config

NO_RESPONSE = -1


def send_file(port: int, path: Path, *, calling: str = "TESTSCU", sop_class: str | None = None,
              transfer_syntax: str | None = None) -> int:
    """C-STORE the file's dataset bytes unchanged; returns the response status (-1: none).

    The Affected SOP Class/Instance UIDs come from the file meta. pynetdicom re-encodes a file
    it has to read with pydicom, which would repair truncated datasets on the way; sending
    in chunks from the file (STORE_SEND_CHUNKED_DATASET) puts the file's own bytes on the wire.
    """
    meta = read_file_meta_info(path)
    if sop_class is not None or transfer_syntax is not None or "TransferSyntaxUID" not in meta:
        offset = _dataset_offset(path)
        return send_encoded(
            port,
            path.read_bytes()[offset:],
            sop_class=sop_class or str(meta.MediaStorageSOPClassUID),
            sop_instance=str(meta.MediaStorageSOPInstanceUID),
            transfer_syntax=transfer_syntax
            or str(meta.get("TransferSyntaxUID") or "1.2.840.10008.1.2"),
            calling=calling,
        )
    return _send_part10(port, path, str(meta.MediaStorageSOPClassUID),
                        str(meta.TransferSyntaxUID), calling)


def send_encoded(port: int, encoded: bytes, *, sop_class: str, sop_instance: str,
                 transfer_syntax: str, calling: str = "TESTSCU") -> int:
    """C-STORE raw dataset bytes in a context (sop_class, transfer_syntax), unchanged."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    buffer = io.BytesIO()
    write_file_meta_info(buffer, meta, enforce_standard=True)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "send.dcm"
        path.write_bytes(b"\x00" * 128 + b"DICM" + buffer.getvalue() + encoded)
        return _send_part10(port, path, sop_class, transfer_syntax, calling)


def _send_part10(port: int, path: Path, sop_class: str, transfer_syntax: str,
                 calling: str) -> int:
    ae = AE(calling)
    ae.add_requested_context(sop_class, transfer_syntax)
    previous = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        assoc = ae.associate("127.0.0.1", port, ae_title="LIENTHONG")
        if not assoc.is_established:
            return NO_RESPONSE
        try:
            status = assoc.send_c_store(path)
            return int(status.Status) if "Status" in status else NO_RESPONSE
        finally:
            assoc.release()
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = previous


def _dataset_offset(path: Path) -> int:
    from pydicom.filereader import _read_file_meta_info, read_preamble

    with path.open("rb") as fp:
        read_preamble(fp, force=False)
        _read_file_meta_info(fp)
        return fp.tell()
