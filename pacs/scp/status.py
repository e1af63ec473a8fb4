"""DIMSE status answers shared by the Query/Retrieve, worklist, MPPS and commitment handlers.

PacsError subclasses carry their own status; this module turns one into the status Dataset
(Status + Error Comment, PS3.7 C.4) that pynetdicom sends, and logs it without patient data.
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset

from pacs.errors import PacsError

log = logging.getLogger(__name__)

FindResult = tuple[int | Dataset, Dataset | None]

_COMMENT_MAX = 64  # Error Comment is LO


def failure(status: int, comment: str) -> Dataset:
    """A status dataset: the status and a short Error Comment for the requester."""
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = comment[:_COMMENT_MAX]
    return ds


def log_failure(service: str, calling: str, exc: PacsError) -> None:
    log.warning(
        "%s from %s refused with 0x%04X: %s", service, calling, exc.dimse_status, exc.reason
    )
