"""OpenID Connect login: authorization code flow with PKCE (RFC 7636, S256) and a nonce.

``start`` makes the state, nonce and code verifier, keeps them in a short-lived HttpOnly cookie
signed with the server key (SameSite=Lax: it must come back on the provider's top-level
redirect), and returns the provider's authorization URL. ``finish`` checks the state, trades the
code and verifier for tokens at the token endpoint, and verifies the ID token (signature from
the provider's JWKS, issuer, audience, expiry, nonce). The caller then opens an ordinary
browser session for the matching local account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from lienthong.settings import OidcSettings

TRANSACTION_COOKIE = "lienthong_oidc"
TRANSACTION_SECONDS = 600
ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256"]
HTTP_TIMEOUT = 10.0


class OidcError(Exception):
    """The login through the identity provider failed; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def discover(config: OidcSettings) -> ProviderMetadata:
    """Read the provider's discovery document (OpenID Connect Discovery 1.0 section 4)."""
    url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        doc = response.json()
        metadata = ProviderMetadata(doc["issuer"], doc["authorization_endpoint"],
                                    doc["token_endpoint"], doc["jwks_uri"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise OidcError("the identity provider cannot be reached") from exc
    if metadata.issuer != config.issuer:
        raise OidcError("the identity provider's issuer does not match the settings")
    return metadata


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def code_challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA256(verifier)) without padding (RFC 7636 4.2)."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _sign(key: bytes, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    mac = hmac.new(key, b"oidc:" + body.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _unsign(key: bytes, value: str) -> dict[str, Any]:
    body, _, mac = value.partition(".")
    expected = hmac.new(key, b"oidc:" + body.encode("ascii"), hashlib.sha256).hexdigest()
    if not mac or not hmac.compare_digest(mac, expected):
        raise OidcError("the login transaction is not ours")
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if payload.get("exp", 0) < time.time():
        raise OidcError("the login took too long; start again")
    return payload


def start(config: OidcSettings, metadata: ProviderMetadata, key: bytes) -> tuple[str, str]:
    """(authorization URL to redirect to, signed transaction cookie value)."""
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43-128
    query = urlencode({
        "response_type": "code", "client_id": config.client_id,
        "redirect_uri": config.redirect_uri, "scope": config.scopes, "state": state,
        "nonce": nonce, "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    })
    cookie = _sign(key, {"state": state, "nonce": nonce, "verifier": verifier,
                         "exp": int(time.time()) + TRANSACTION_SECONDS})
    return f"{metadata.authorization_endpoint}?{query}", cookie


def finish(
    config: OidcSettings, metadata: ProviderMetadata, key: bytes, *, cookie: str | None,
    state: str, code: str,
) -> str:
    """Complete the login; returns the user name claim. Raises OidcError."""
    if not cookie:
        raise OidcError("no login transaction; start again")
    transaction = _unsign(key, cookie)
    if not hmac.compare_digest(str(transaction["state"]), state):
        raise OidcError("state mismatch")
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": config.redirect_uri, "client_id": config.client_id,
            "code_verifier": str(transaction["verifier"])}
    if config.client_secret:
        form["client_secret"] = config.client_secret
    try:
        response = httpx.post(metadata.token_endpoint, data=form, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise OidcError("the identity provider cannot be reached") from exc
    if response.status_code != 200:
        raise OidcError("the identity provider refused the code")
    try:
        id_token = str(response.json()["id_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise OidcError("the identity provider sent no ID token") from exc
    claims = verify_id_token(config, metadata, id_token)
    if not hmac.compare_digest(str(claims.get("nonce", "")), str(transaction["nonce"])):
        raise OidcError("nonce mismatch")
    username = claims.get(config.username_claim)
    if not isinstance(username, str) or not username:
        raise OidcError(f"the ID token has no {config.username_claim!r} claim")
    return username


def verify_id_token(
    config: OidcSettings, metadata: ProviderMetadata, id_token: str
) -> dict[str, Any]:
    """Signature (provider JWKS), issuer, audience, expiry and issued-at of an ID token."""
    try:
        signing_key = jwt.PyJWKClient(metadata.jwks_uri, timeout=HTTP_TIMEOUT) \
            .get_signing_key_from_jwt(id_token)
        claims: dict[str, Any] = jwt.decode(
            id_token, signing_key.key, algorithms=ID_TOKEN_ALGORITHMS,
            audience=config.client_id, issuer=metadata.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise OidcError(f"the ID token is not valid ({exc.__class__.__name__})") from exc
    return claims
