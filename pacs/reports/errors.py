"""Report errors; they are PacsErrors, so the gateway maps them with the rest of the family."""

from __future__ import annotations

from pacs.errors import PacsError


class ReportError(PacsError):
    """Base class of the report errors (never a DIMSE answer: reports are HTTP only)."""

    http_status = 400


class StudyNotFound(ReportError):
    http_status = 404


class ReportNotFound(ReportError):
    http_status = 404


class TemplateNotFound(ReportError):
    http_status = 404


class ReportImmutable(ReportError):
    """The report is signed: it can only be amended, which makes a new version."""

    http_status = 409


class ReportStateConflict(ReportError):
    """The operation does not apply to the report's current state (e.g. amending a draft)."""

    http_status = 409


class ReportIncomplete(ReportError):
    """A report cannot be signed without a conclusion."""

    http_status = 422
