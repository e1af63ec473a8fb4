"""Security headers on every response (reliability G17: CSP and no Referer leaks).

A strict Content-Security-Policy applies unless a route sets its own (the viewer may). The
OpenAPI pages are exempt: they load their scripts from FastAPI's default CDN. Responses of
``/api/auth`` carry ``Cache-Control: no-store`` because they hold tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
DOC_PATHS = ("/docs", "/redoc")
ALWAYS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith(DOC_PATHS):
        response.headers.setdefault("Content-Security-Policy", CSP)
    if request.url.path.startswith("/api/auth"):
        response.headers["Cache-Control"] = "no-store"
    return response
