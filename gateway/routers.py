"""Every router of the HTTP app, collected in one place, each under the access policy.

To add an endpoint: put it on a router listed here and give its path a rule in
``gateway.auth.policy.RULES`` (the route inventory test fails otherwise).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from gateway import operations, viewer
from gateway.auth.policy import enforce_policy


def routers() -> list[APIRouter]:
    from gateway import dicomweb
    from gateway.admin import audit as admin_audit
    from gateway.admin import users as admin_users
    from gateway.api import claims, orders, reports, worklist
    from gateway.auth import oidc_routes
    from gateway.auth import routes as auth_routes

    # The router tries routes in this order, one pattern after another: DICOMweb first, as it
    # takes most of the requests (a viewer loads a series frame by frame). No two routes match
    # the same path and method, so the order decides nothing else.
    return [*dicomweb.routers(), operations.router, auth_routes.router, oidc_routes.router,
            admin_users.router, admin_audit.router, orders.router, claims.router,
            worklist.router, reports.router, viewer.router]


def include_routers(app: FastAPI) -> None:
    for router in routers():
        app.include_router(router, dependencies=[Depends(enforce_policy)])
