"""pynetdicom as a second peer: sends a file's bytes exactly as stored (even malformed ones),
for SOP classes or defects that DCMTK's storescu refuses to send itself."""

from __future__ import annotations

from pathlib import Path

from pydicom.filereader import read_file_meta_info
from pynetdicom import AE


def send_file(port: int, path: Path, *, calling: str = "TESTSCU", sop_class: str | None = None,
              transfer_syntax: str | None = None) -> int:
    """C-STORE the file's dataset bytes unchanged; returns the response status (-1: none)."""
    meta = read_file_meta_info(path)
    sop_class = sop_class or str(meta.MediaStorageSOPClassUID)
    transfer_syntax = transfer_syntax or str(meta.get("TransferSyntaxUID") or "1.2.840.10008.1.2")
    ae = AE(calling)
    ae.add_requested_context(sop_class, transfer_syntax)
    assoc = ae.associate("127.0.0.1", port, ae_title="LIENTHONG")
    if not assoc.is_established:
        return -1
    try:
        status = assoc.send_c_store(path)
        return int(status.Status) if "Status" in status else -1
    finally:
        assoc.release()
