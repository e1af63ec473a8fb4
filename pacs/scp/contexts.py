"""What the SCP accepts: our DICOM conformance statement, in code."""

from __future__ import annotations

from pynetdicom import AllStoragePresentationContexts
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

# Accepted as received and stored byte for byte; we never transcode on ingest.
STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent by old modalities)
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1 (Process 14, selection value 1)
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.5",  # RLE Lossless
)

STORAGE_SOP_CLASSES: tuple[str, ...] = tuple(
    str(cx.abstract_syntax) for cx in AllStoragePresentationContexts
)

VERIFICATION_SOP_CLASS = str(Verification)

# Query/Retrieve, worklist, MPPS and storage commitment: plain uncompressed syntaxes suffice
# for identifiers and N-service datasets.
SERVICE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
)

SERVICE_SOP_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.2.1.1",  # Patient Root Query/Retrieve Information Model - FIND
    "1.2.840.10008.5.1.4.1.2.2.1",  # Study Root Query/Retrieve Information Model - FIND
    "1.2.840.10008.5.1.4.1.2.1.2",  # Patient Root Query/Retrieve Information Model - MOVE
    "1.2.840.10008.5.1.4.1.2.2.2",  # Study Root Query/Retrieve Information Model - MOVE
    "1.2.840.10008.5.1.4.1.2.1.3",  # Patient Root Query/Retrieve Information Model - GET
    "1.2.840.10008.5.1.4.1.2.2.3",  # Study Root Query/Retrieve Information Model - GET
    "1.2.840.10008.5.1.4.31",  # Modality Worklist Information Model - FIND
    "1.2.840.10008.3.1.2.3.3",  # Modality Performed Procedure Step
    "1.2.840.10008.1.20.1",  # Storage Commitment Push Model
)
