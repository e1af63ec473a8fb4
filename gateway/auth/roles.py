"""The roles a user can hold. Which role may do what is ``gateway.auth.policy``, not here."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    """Manages users and API keys, reads the audit trail; does not read images."""
    IT = "it"
    """Runs the service: peers, exports, metrics, uploads for integration."""
    RADIOLOGIST = "radiologist"
    """Reads and reports studies."""
    REFERRING_DOCTOR = "referring_doctor"
    """Orders studies and views their images and reports."""
    EXTERNAL_SPECIALIST = "external_specialist"
    """An outside reader; sees only studies shared with them (consultation)."""
    CLAIMS_CLERK = "claims_clerk"
    """Prepares and sends the insurance claim export."""


class Scope(StrEnum):
    """What an API key may be used for; each scope opens the endpoints of one integration."""

    ORDERS = "orders"
    """The HIS posts imaging orders (``/api/orders``)."""
    CLAIMS = "claims"
    """Clinic records and claim export (``/api/claims``)."""
    STOW = "stow"
    """A modality integration or another PACS uploads instances (STOW-RS)."""
    DICOMWEB = "dicomweb"
    """An outside tool searches and retrieves (QIDO-RS, WADO-RS, WADO-URI)."""
    METRICS = "metrics"
    """Prometheus scrapes ``/metrics``."""
