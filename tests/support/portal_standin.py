"""A faithful stand-in of the social-insurance portal (spec §9.2–§9.4, §9.7), tests only.

Serves on 127.0.0.1: the token endpoint (form body, MD5 upper-case password check, APIKey with
expiry), the QĐ 3176 check-in and submit endpoints (three headers, form fields, base64, XML
well-formedness, GIAMDINHHS structure, signature presence) answering
``{"maKetQua", "maGiaoDich", "thoiGianTiepNhan", "thongDiep"}``, and our extension
``/api/qd130/ketQuaXuLy`` (processing state and per-field errors by maGiaoDich). It counts
submissions per MA_LK, and ``fail_next(mode)`` injects 503s or "received, then connection
dropped".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import threading
import urllib.parse
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree

DS = "{http://www.w3.org/2000/09/xmldsig#}"


class PortalState:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        digest = hashlib.md5(password.encode(), usedforsecurity=False)
        self.password_hash = digest.hexdigest().upper()
        self.tokens: dict[str, dt.datetime] = {}
        self.submissions: Counter[str] = Counter()
        self.checkins: Counter[str] = Counter()  # MA_LK of each TRANG_THAI_KCB checked in
        self.transactions: dict[str, dict[str, object]] = {}
        self.failures: list[str] = []
        self.reject_ma_lk: dict[str, str] = {}
        self.lock = threading.Lock()


def _parse(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        path = self.path.split("?")[0]
        if path == "/api/token/take":
            if (form.get("username"), form.get("password")) != (state.username,
                                                               state.password_hash):
                return self._reply(200, {"maKetQua": "401"})
            token = uuid.uuid4().hex
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
            state.tokens[token] = expires
            return self._reply(200, {"maKetQua": "200", "APIKey": {
                "access_token": token, "id_token": "id-" + token, "token_type": "Bearer",
                "username": state.username, "expires_in": expires.isoformat()}})
        token = self.headers.get("accessToken", "")
        if (state.tokens.get(token, dt.datetime.min.replace(tzinfo=dt.UTC))
                < dt.datetime.now(dt.UTC) or self.headers.get("tokenId") != "id-" + token
                or self.headers.get("passwordHash") != state.password_hash):
            return self._reply(401, {"maKetQua": "401", "thongDiep": "Chưa xác thực"})
        if path == "/api/qd130/ketQuaXuLy":
            tx = state.transactions.get(form.get("maGiaoDich", ""))
            if tx is None:
                return self._reply(200, {"maKetQua": "404", "thongDiep": "Không tìm thấy"})
            return self._reply(200, {"maKetQua": "200", "trangThai": tx["state"],
                                     "dsLoi": tx["errors"]})
        if path not in ("/api/qd130/guiHoSoXmlQD3176", "/api/qd130/checkInKcbQd3176"):
            return self._reply(404, {"maKetQua": "404"})
        with state.lock:
            failure = state.failures.pop(0) if state.failures else ""
        if failure == "503":
            return self._reply(503, {"maKetQua": "503", "thongDiep": "Hệ thống bận"})
        expected_type = "130" if path.endswith("QD3176") else "0"
        if form.get("loaiHoSo") != expected_type or form.get("username") != state.username:
            return self._reply(200, {"maKetQua": "205", "thongDiep": "Sai tham số"})
        try:
            root = _parse(base64.b64decode(form.get("fileHSBase64", ""), validate=True))
        except (binascii.Error, ValueError, etree.XMLSyntaxError):
            return self._reply(200, {"maKetQua": "201", "thongDiep": "XML sai định dạng"})
        holder = root.find("CHUKYDONVI")
        if holder is None or holder.find(f"{DS}Signature") is None:
            return self._reply(200, {"maKetQua": "202", "thongDiep": "Hồ sơ chưa ký số"})
        ma_lk = ""
        if (root.tag == "GIAMDINHHS") != (expected_type == "130"):
            return self._reply(200, {"maKetQua": "202", "thongDiep": "Sai loại hồ sơ"})
        if root.tag == "GIAMDINHHS":
            for item in root.iterfind(".//FILEHOSO"):
                if item.findtext("LOAIHOSO") == "XML1":
                    ma_lk = _parse(base64.b64decode(item.findtext("NOIDUNGFILE") or "")
                                   ).findtext("MA_LK") or ""
            if not ma_lk:
                return self._reply(200, {"maKetQua": "202", "thongDiep": "Thiếu XML1"})
        elif root.tag != "CHI_TIEU_TRANG_THAI_KCB" or root.find(
                "DSACH_TRANG_THAI_KCB/TRANG_THAI_KCB") is None:
            return self._reply(200, {"maKetQua": "202", "thongDiep": "Sai cấu trúc check-in"})
        else:
            with state.lock:
                state.checkins.update(r.findtext("MA_LK") or "" for r in
                                      root.iterfind("DSACH_TRANG_THAI_KCB/TRANG_THAI_KCB"))
        tx = uuid.uuid4().hex[:20]
        with state.lock:
            if ma_lk:
                state.submissions[ma_lk] += 1
            reason = state.reject_ma_lk.get(ma_lk, "")
            state.transactions[tx] = {
                "ma_lk": ma_lk, "state": "rejected" if reason else "accepted",
                "errors": [{"maLoi": "202", "moTaLoi": reason}] if reason else []}
        if failure == "drop":
            self.connection.close()  # received, then the connection drops before the answer
            return None
        return self._reply(200, {"maKetQua": "200", "maGiaoDich": tx, "thongDiep": "Thành công",
                                 "thoiGianTiepNhan": dt.datetime.now().strftime("%Y%m%d%H%M%S")})


class _Server(ThreadingHTTPServer):
    state: PortalState


class PortalStandIn:
    """``with PortalStandIn(user, password) as portal:`` → ``portal.url``, ``portal.state``."""

    def __init__(self, username: str, password: str) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.state = PortalState(username, password)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def state(self) -> PortalState:
        return self.server.state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PortalStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
