"""HTTP client of the portal (spec §9.2–§9.5) on the standard library (urllib, verified TLS).

* Token: ``POST /api/token/take`` with form ``username`` and ``password`` = MD5 of the password,
  upper-case hex; the ``APIKey`` is cached until shortly before ``expires_in``; a ``401`` makes
  one fresh login and one retry.
* Submit: ``POST /api/qd130/guiHoSoXmlQD3176`` (check-in: ``checkInKcbQd3176``) with headers
  ``accessToken``, ``tokenId``, ``passwordHash`` and form ``username``, ``loaiHoSo``, ``maTinh``
  (first two characters of the facility code), ``maCSKCB``, ``fileHSBase64``.
* The JSON body is read even with a non-2xx status (§9.4). Timeouts 30 s request (§9.4).
* Acknowledgements: the real portal has no results service for QĐ 130 files (§9.5); the
  ``acknowledgement`` call uses ``api/qd130/ketQuaXuLy?maGiaoDich=`` — an extension that only
  the stand-in serves (UNVERIFIED against any real endpoint; claims/spec.py PORTAL_RESULT_PATH).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from claims import spec
from claims.portal.client import Acknowledgement, PortalError, Receipt


@dataclass
class HttpPortalClient:
    base_url: str
    username: str
    password: str
    facility_code: str
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None
    _token: dict[str, str] = field(default_factory=dict)
    _token_until: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("the portal URL must be https (plain http only for loopback tests)")
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
            self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2

    @property
    def password_hash(self) -> str:
        # §9.2: MD5 of the password, upper-case hex (the portal's protocol, not our security).
        return hashlib.md5(self.password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()

    def _post(self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
              ) -> tuple[int, dict[str, Any]]:
        data = urllib.parse.urlencode(form).encode("ascii")
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __post_init__
            self.base_url.rstrip("/") + path, data=data, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout,  # noqa: S310
                                        context=self.ssl_context) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except urllib.error.URLError as exc:
            refused = isinstance(exc.reason, ConnectionRefusedError | ssl.SSLError)
            raise PortalError(f"portal unreachable: {exc.reason}",
                              maybe_received=not refused) from exc
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise PortalError(f"no answer from the portal: {exc!r}", maybe_received=True) from exc
        if status >= 500:
            raise PortalError(f"portal error HTTP {status}", maybe_received=False)
        try:
            parsed = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PortalError(f"portal answered HTTP {status} without JSON",
                              maybe_received=True) from exc
        if not isinstance(parsed, dict):
            raise PortalError(f"portal answered HTTP {status} with unexpected JSON",
                              maybe_received=True)
        return status, parsed

    def _login(self) -> None:
        _, body = self._post("/api/token/take", {"username": self.username,
                                                 "password": self.password_hash})
        key = body.get("APIKey")
        if str(body.get("maKetQua")) != "200" or not isinstance(key, dict):
            raise PortalError(f"login refused: maKetQua {body.get('maKetQua')}",
                              maybe_received=False)
        self._token = {k: str(v) for k, v in key.items()}
        try:
            until = dt.datetime.fromisoformat(self._token.get("expires_in", ""))
            if until.tzinfo is None:
                until = until.replace(tzinfo=dt.UTC)
        except ValueError:
            until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
        self._token_until = until - dt.timedelta(seconds=60)

    def _headers(self) -> dict[str, str]:
        if not self._token or self._token_until is None or \
                dt.datetime.now(dt.UTC) >= self._token_until:
            self._login()
        return {"accessToken": self._token.get("access_token", ""),
                "tokenId": self._token.get("id_token", ""), "passwordHash": self.password_hash}

    def _send(self, path: str, loai_ho_so: str, document: bytes) -> Receipt:
        form = {"username": self.username, "loaiHoSo": loai_ho_so,
                "maTinh": self.facility_code[:2], "maCSKCB": self.facility_code,
                "fileHSBase64": base64.b64encode(document).decode("ascii")}
        for attempt in (1, 2):
            status, body = self._post(path, form, self._headers())
            code = str(body.get("maKetQua", status))
            if code == "401" and attempt == 1:
                self._token = {}
                continue
            return Receipt(code, str(body.get("maGiaoDich", "")),
                           str(body.get("thoiGianTiepNhan", "")), str(body.get("thongDiep", "")))
        raise PortalError("portal refused the token twice", maybe_received=False)

    def submit(self, signed_envelope: bytes) -> Receipt:
        return self._send(spec.PORTAL_SUBMIT_PATH, "130", signed_envelope)

    def check_in(self, signed_checkin: bytes) -> Receipt:
        return self._send(spec.PORTAL_CHECKIN_PATH, "0", signed_checkin)

    def acknowledgement(self, ma_giao_dich: str) -> Acknowledgement:
        _, body = self._post(spec.PORTAL_RESULT_PATH, {"maGiaoDich": ma_giao_dich},
                             self._headers())
        state = str(body.get("trangThai", "waiting"))
        errors = tuple(f"{e.get('maLoi', '')}: {e.get('moTaLoi', '')}"
                       for e in body.get("dsLoi", []) if isinstance(e, dict))
        return Acknowledgement(state if state in ("waiting", "accepted", "rejected")
                               else "waiting", errors)
