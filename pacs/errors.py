"""The PACS error family. Each error carries the DIMSE status and the HTTP status it maps to.

They are mapped in exactly two places: the SCP handler wrapper (``pacs.scp.handlers``) and the
HTTP gateway's exception handlers.
"""

from __future__ import annotations


class PacsError(Exception):
    """Base class: ``dimse_status`` for DIMSE, ``http_status`` for HTTP."""

    dimse_status: int = 0xC000  # Failure: cannot understand (PS3.4 B.2.3)
    http_status: int = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UndecodableDataset(PacsError):
    """The bytes are not a well-formed dataset (truncated, bad lengths, missing delimiters)."""

    dimse_status = 0xC210
    http_status = 400


class DatasetMismatch(PacsError):
    """The dataset does not match its SOP class or the request (PS3.4 B.2.3 0xA900)."""

    dimse_status = 0xA900
    http_status = 400


class SOPClassNotSupported(PacsError):
    dimse_status = 0x0122
    http_status = 400


class StorageUnavailable(PacsError):
    """The disk is full, below its low-water mark, or not writable (Refused: out of resources)."""

    dimse_status = 0xA700
    http_status = 503


class IndexUnavailable(PacsError):
    """The index database could not be reached or refused the transaction."""

    dimse_status = 0xA701
    http_status = 503


class InvalidIdentifier(PacsError):
    """A query identifier cannot be processed (PS3.4 C.4.1.1.4 0xA900)."""

    dimse_status = 0xA900
    http_status = 400


class UnknownMoveDestination(PacsError):
    dimse_status = 0xA801
    http_status = 400


class NotAuthorised(PacsError):
    dimse_status = 0x0124
    http_status = 403


class TooManyMatches(PacsError):
    """A query matches more than the configured maximum (C-FIND: Refused, out of resources)."""

    dimse_status = 0xA700
    http_status = 413


class OrderRejected(PacsError):
    """An imaging order (or a change to one) is invalid; `field` names the offending input."""

    dimse_status = 0xA900
    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class NoSuchOrder(PacsError):
    dimse_status = 0x0112  # No such SOP Instance (N-SET on an unknown MPPS)
    http_status = 404
