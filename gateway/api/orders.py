"""``/api/orders``: the HIS creates, changes and cancels imaging orders (JSON).

Access is set by the policy table (``gateway.auth.policy``): the HIS with an API key holding the
``orders`` scope writes; staff and the HIS read. Bad input is refused with 422 naming the field
(``OrderRejected``, mapped in ``gateway.errors``) and nothing is stored: each route runs in one
transaction with its audit row.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from sqlalchemy.orm import Session

from gateway.deps import (
    CurrentPrincipal,
    Principal,
    SessionDep,
    WriteSessionDep,
    record_action,
)
from pacs.orders.schema import parse_create, parse_update
from pacs.orders.service import cancel_order, create_order, get_order, update_order, view

router = APIRouter(prefix="/api/orders", tags=["orders"])

JsonBody = Annotated[dict[str, Any], Body()]


def _audit(session: Session, principal: Principal, action: str, accession: str,
           patient_id: str) -> None:
    record_action(session, principal, action, patient_id=patient_id,
                  detail=f"accession {accession}")


@router.post("", status_code=201)
def post_order(body: JsonBody, principal: CurrentPrincipal,
               session: WriteSessionDep) -> dict[str, Any]:
    """Create an order; 201 with the order (accession number and Study UID filled in)."""
    data = parse_create(body)
    with session.begin():
        order = create_order(session, data)
        _audit(session, principal, "order.create", order.accession_number, order.patient_id)
        return view(order).as_dict()


@router.get("/{accession_number}")
def read_order(accession_number: str, session: SessionDep) -> dict[str, Any]:
    with session.begin():
        return view(get_order(session, accession_number)).as_dict()


@router.patch("/{accession_number}")
def patch_order(accession_number: str, body: JsonBody, principal: CurrentPrincipal,
                session: WriteSessionDep) -> dict[str, Any]:
    """Change the fields sent of an open order; 409-like refusals are 422 on ``status``."""
    data = parse_update(body)
    with session.begin():
        order = update_order(session, accession_number, data)
        _audit(session, principal, "order.update", order.accession_number, order.patient_id)
        return view(order).as_dict()


@router.post("/{accession_number}/cancel")
def post_cancel(accession_number: str, principal: CurrentPrincipal, session: WriteSessionDep,
                body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    reason = str((body or {}).get("reason", ""))
    with session.begin():
        order = cancel_order(session, accession_number, reason)
        _audit(session, principal, "order.cancel", order.accession_number, order.patient_id)
        return view(order).as_dict()
