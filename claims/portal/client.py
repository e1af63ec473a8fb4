"""The portal seam (spec §9): what Lienthong needs from the assessment portal.

``HttpPortalClient`` (claims/portal/http.py) talks to the real portal; the tests serve a
faithful stand-in on 127.0.0.1 (tests/support/portal_standin.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class PortalError(Exception):
    """The portal could not be reached or answered outside its protocol.

    ``maybe_received`` is False when the request certainly did not get in (connection refused,
    an explicit 5xx answer): it may simply be sent again. It is True when the request may have
    been received (timeout, connection dropped before the answer).
    """

    def __init__(self, message: str, *, maybe_received: bool) -> None:
        super().__init__(message)
        self.maybe_received = maybe_received


@dataclass(frozen=True)
class Receipt:
    """The portal's answer to a submit or check-in (§9.4); maKetQua "200" = received."""

    ma_ket_qua: str
    ma_giao_dich: str
    thoi_gian_tiep_nhan: str
    thong_diep: str

    @property
    def received(self) -> bool:
        return self.ma_ket_qua == "200"


@dataclass(frozen=True)
class Acknowledgement:
    """Processing result of a received file: "waiting", "accepted" or "rejected" with errors."""

    state: str
    errors: tuple[str, ...] = ()


class PortalClient(Protocol):
    def submit(self, signed_envelope: bytes) -> Receipt:
        """Send one signed GIAMDINHHS file (loaiHoSo 130). Raises PortalError when unreachable."""
        ...

    def check_in(self, signed_checkin: bytes) -> Receipt:
        """Send one signed check-in document (loaiHoSo 0)."""
        ...

    def acknowledgement(self, ma_giao_dich: str) -> Acknowledgement:
        """Processing result of a received file (§9.5; see http.py for what the portal offers)."""
        ...
