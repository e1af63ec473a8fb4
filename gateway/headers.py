"""Security headers on every response (reliability G17: CSP and no Referer leaks).

A strict Content-Security-Policy applies unless a route sets its own (the viewer may). The
OpenAPI pages are exempt: they load their scripts from FastAPI's default CDN. Responses of
``/api/auth`` carry ``Cache-Control: no-store`` because they hold tokens.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
DOC_PATHS = ("/docs", "/redoc")
ALWAYS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task or stream, unlike ``@app.middleware``): sets
    the headers on the response start message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if not path.startswith(DOC_PATHS):
                    headers.setdefault("Content-Security-Policy", CSP)
                if path.startswith("/api/auth"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
