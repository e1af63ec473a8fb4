"""Errors to HTTP responses, in one place: RFC 9457 problem+json bodies.

The PacsError family carries its own ``http_status``; the auth errors too. A 401 carries
``WWW-Authenticate`` (RFC 6750 3), a 429 or 503 ``Retry-After``. Anything unexpected is logged
with its traceback and answered 500 without internals.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException

from claims.errors import ClaimsError, RecordInvalid, RuleViolations
from gateway.auth.errors import AuthError, TooManyAttempts
from pacs.errors import PacsError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
WWW_AUTHENTICATE = 'Bearer realm="lienthong"'
DATABASE_RETRY_AFTER = "5"  # seconds, on a 503 for a database that is down or locked


def problem(status: int, detail: str, headers: dict[str, str] | None = None,
            **extensions: object) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, **extensions}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def handle_auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    headers: dict[str, str] = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    elif exc.http_status == 503:  # the audit trail could not be written (database busy or down)
        headers["Retry-After"] = DATABASE_RETRY_AFTER
    return problem(exc.http_status, exc.reason, headers)


async def handle_pacs_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PacsError)
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if exc.http_status == 401 else None
    return problem(exc.http_status, exc.reason, headers)


async def handle_claims_error(request: Request, exc: Exception) -> JSONResponse:
    # Refused records list every problem by field (Vietnamese and English), as RFC 9457
    # extension members, so the HIS can show them all at once.
    assert isinstance(exc, ClaimsError)
    if isinstance(exc, RecordInvalid):
        return problem(exc.http_status, str(exc), problems=[p.as_dict() for p in exc.problems])
    if isinstance(exc, RuleViolations):
        return problem(exc.http_status, str(exc), violations=[str(v) for v in exc.violations])
    return problem(exc.http_status, str(exc))


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def handle_data_error(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value taken from the request (e.g. a NUL in a text parameter).
    return problem(400, "a request value cannot be stored or searched")


async def handle_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable on %s %s: %s", request.method, request.url.path,
              exc.__class__.__name__)
    return problem(503, "the database is unavailable; try again later",
                   {"Retry-After": DATABASE_RETRY_AFTER})


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal error; the event was logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, handle_auth_error)
    app.add_exception_handler(PacsError, handle_pacs_error)
    app.add_exception_handler(ClaimsError, handle_claims_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
    app.add_exception_handler(DataError, handle_data_error)
    app.add_exception_handler(OperationalError, handle_database_unavailable)
    app.add_exception_handler(Exception, handle_unexpected)
