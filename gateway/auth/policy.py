"""Who may do what: the ONE access table of the HTTP gateway, applied to every router.

Each rule maps a route path prefix (the route's template, e.g. ``/dicomweb/studies/{study}``)
and HTTP methods to the user roles and API key scopes allowed. The longest matching prefix wins.
``enforce_policy`` is added to every router in ``gateway.routers``; a route with no rule is
refused (403) and fails ``tests/gateway/test_policy.py``, which walks every route of the app.

Anonymous routes are only the health check, the login endpoints and the OpenAPI docs.
``/metrics`` is NOT anonymous: it names routes, counts failures and shows ingest volume, which
is reconnaissance for an attacker on the hospital LAN; Prometheus sends a bearer credential
natively (``authorization: credentials_file``), so it gets an API key with the ``metrics``
scope, and IT and admins can look with their own login.

External specialists are not given ``/dicomweb`` here: they may only see the studies shared with
them, and that per-study check (consultation invitations) does not exist yet, so they are
refused rather than shown everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from gateway.auth.errors import Forbidden
from gateway.auth.roles import Role, Scope
from gateway.deps import Principal, audit_request, authorize
from lienthong import audit

READ = frozenset({"GET", "HEAD"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALL = READ | WRITE
CLINICAL_READERS = frozenset({Role.RADIOLOGIST, Role.REFERRING_DOCTOR})


@dataclass(frozen=True)
class Rule:
    prefix: str
    methods: frozenset[str]
    roles: frozenset[Role] = frozenset()
    scopes: frozenset[Scope] = frozenset()
    anonymous: bool = False


RULES: tuple[Rule, ...] = (
    # Operations and login: anonymous.
    Rule("/healthz", READ, anonymous=True),
    Rule("/api/auth/", ALL, anonymous=True),
    Rule("/docs", READ, anonymous=True),
    Rule("/redoc", READ, anonymous=True),
    Rule("/openapi.json", READ, anonymous=True),
    Rule("/metrics", READ, frozenset({Role.IT, Role.ADMIN}), frozenset({Scope.METRICS})),
    # Administration.
    Rule("/api/admin/users", ALL, frozenset({Role.ADMIN})),
    Rule("/api/admin/audit", READ, frozenset({Role.ADMIN})),
    # DICOMweb (PS3.18): search and retrieve; store (STOW-RS).
    Rule("/dicomweb", READ, CLINICAL_READERS, frozenset({Scope.DICOMWEB})),
    Rule("/dicomweb", frozenset({"POST"}), frozenset({Role.RADIOLOGIST, Role.IT}),
         frozenset({Scope.STOW})),
    Rule("/wado", READ, CLINICAL_READERS, frozenset({Scope.DICOMWEB})),
    # HIS orders: the HIS posts with its API key; staff can read them.
    Rule("/api/orders", frozenset({"POST", "PATCH"}), scopes=frozenset({Scope.ORDERS})),
    Rule("/api/orders", READ, frozenset({Role.RADIOLOGIST, Role.REFERRING_DOCTOR, Role.IT}),
         frozenset({Scope.ORDERS})),
    # Reading: the worklist and reports (radiologists write and sign, referring doctors read);
    # report templates are kept by admins. The viewer's own files hold no patient data.
    Rule("/viewer", READ, anonymous=True),
    Rule("/api/worklist", READ, CLINICAL_READERS),
    Rule("/api/reports", READ, CLINICAL_READERS),
    Rule("/api/reports", WRITE, frozenset({Role.RADIOLOGIST})),
    Rule("/api/report-templates", READ, frozenset({Role.RADIOLOGIST, Role.ADMIN})),
    Rule("/api/report-templates", WRITE, frozenset({Role.ADMIN})),
    # Insurance claims.
    Rule("/api/claims", ALL, frozenset({Role.CLAIMS_CLERK, Role.IT}),
         frozenset({Scope.CLAIMS})),
)


def rule_for(method: str, path_template: str) -> Rule | None:
    """The rule for a route: the longest prefix matching the template with this method."""
    matches = [r for r in RULES if method in r.methods and path_template.startswith(r.prefix)]
    return max(matches, key=lambda r: len(r.prefix), default=None)


def enforce_policy(request: Request) -> Principal | None:
    """Router dependency: apply the table to the matched route (None for anonymous routes)."""
    route = request.scope.get("route")
    template = str(getattr(route, "path", request.url.path))
    rule = rule_for(request.method, template)
    if rule is None:
        audit_request(request, None, audit.Outcome.DENIED, "no access rule for this route")
        raise Forbidden("no access rule covers this route")
    if rule.anonymous:
        return None
    return authorize(request, roles=rule.roles, scopes=rule.scopes)
