"""``/api/auth/oidc``: login through the hospital's identity provider (when enabled).

``GET /login`` redirects to the provider; ``GET /callback`` completes the code flow and opens
the same browser session as ``POST /api/auth/login`` for the local account whose user name is
the ID token's ``username_claim``. Every outcome is audited as a login (DCM 110114).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from gateway.auth import oidc
from gateway.auth.errors import Forbidden, NotAuthenticated
from gateway.auth.secrets import csrf_token
from gateway.auth.tokens import open_browser_session
from gateway.auth.users import find_user
from gateway.deps import CSRF_COOKIE, SESSION_COOKIE, SettingsDep, WriteSessionDep, client_address
from lienthong import audit
from lienthong.audit import clean_text
from lienthong.db import utcnow
from lienthong.settings import Settings

router = APIRouter(prefix="/api/auth/oidc", tags=["auth"])
COOKIE_PATH = "/api/auth/oidc"
# After the provider's cross-site redirect, a SameSite=Strict cookie is not sent until a
# same-site navigation happens; this page makes one.
LANDING = '<!doctype html><meta http-equiv="refresh" content="0;url=/"><title>Lienthong</title>'


def _metadata(request: Request, settings: Settings) -> oidc.ProviderMetadata:
    if not settings.auth.oidc.enabled:
        raise HTTPException(404, "login through an identity provider is not enabled")
    cached: oidc.ProviderMetadata | None = getattr(request.app.state, "oidc_metadata", None)
    if cached is None:
        cached = oidc.discover(settings.auth.oidc)
        request.app.state.oidc_metadata = cached
    return cached


def _secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.auth.secure_cookies


@router.get("/login", response_class=RedirectResponse, status_code=302)
def oidc_login(request: Request, settings: SettingsDep) -> Response:
    """Redirect to the identity provider (authorization code + PKCE)."""
    try:
        metadata = _metadata(request, settings)
    except oidc.OidcError as exc:
        raise HTTPException(503, exc.reason) from exc
    url, transaction = oidc.start(settings.auth.oidc, metadata, request.app.state.secret_key)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(oidc.TRANSACTION_COOKIE, transaction, max_age=oidc.TRANSACTION_SECONDS,
                        path=COOKIE_PATH, secure=_secure(request, settings), httponly=True,
                        samesite="lax")
    return response


@router.get("/callback", response_class=HTMLResponse)
def oidc_callback(
    request: Request, settings: SettingsDep, session: WriteSessionDep,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=512)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The provider's redirect back: verify, then open a browser session for the local user."""
    key: bytes = request.app.state.secret_key
    username, failure = "(unknown)", ""
    try:
        metadata = _metadata(request, settings)
        if error or not code:
            raise oidc.OidcError(f"the identity provider answered {error or 'without a code'}")
        username = oidc.finish(settings.auth.oidc, metadata, key, state=state, code=code,
                               cookie=request.cookies.get(oidc.TRANSACTION_COOKIE))
    except oidc.OidcError as exc:
        failure = exc.reason
    username = clean_text(username)[:64]
    with session.begin():
        user = find_user(session, username) if not failure else None
        if not failure and (user is None or user.disabled):
            failure = "no active local account for this identity"
        audit.record(session, actor=username, actor_kind="user",
                     role=user.role if user and not failure else None, action="login",
                     outcome=audit.Outcome.DENIED if failure else audit.Outcome.SUCCESS,
                     address=client_address(request), detail=f"oidc: {failure or 'ok'}")
        if failure or user is None:
            issued = None
        else:
            issued = open_browser_session(session, key, user, address=client_address(request),
                                          now=utcnow(), auth=settings.auth)
    if issued is None:
        if failure.startswith("no active local account"):
            raise Forbidden(failure)
        raise NotAuthenticated(failure)
    response = HTMLResponse(LANDING)
    secure = _secure(request, settings)
    response.set_cookie(SESSION_COOKIE, issued.access_token, max_age=issued.expires_in,
                        path="/", secure=secure, httponly=True, samesite="strict")
    response.set_cookie(CSRF_COOKIE, csrf_token(key, issued.access_token),
                        max_age=issued.expires_in, path="/", secure=secure, httponly=False,
                        samesite="strict")
    response.delete_cookie(oidc.TRANSACTION_COOKIE, path=COOKIE_PATH)
    return response
