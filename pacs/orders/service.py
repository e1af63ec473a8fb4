"""Imaging order life cycle: create, update, cancel, link to arriving images, follow MPPS.

Data functions: they take a Session, flush, and never commit; the caller frames the
transaction, so a rejected order leaves nothing behind.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from pydicom.uid import generate_uid
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lienthong.db import utcnow
from pacs.errors import NoSuchOrder, OrderRejected
from pacs.index.attributes import fold_name
from pacs.index.models import Study
from pacs.orders.models import OPEN_STATUSES, ImagingOrder, OrderStatus
from pacs.orders.schema import OrderCreate, OrderUpdate

log = logging.getLogger(__name__)

# Lienthong's UID root for Study Instance UIDs it assigns (pydicom's registered root + UUID).
_GENERATED_ACCESSION_TRIES = 8


def _new_accession(session: Session, now_text: str) -> str:
    for _ in range(_GENERATED_ACCESSION_TRIES):
        candidate = f"{now_text}{secrets.randbelow(10**8):08d}"  # 6 + 8 = 14 characters
        if _by_accession(session, candidate) is None:
            return candidate
    raise OrderRejected("accession_number", "could not generate a unique accession number")


def _by_accession(session: Session, accession: str) -> ImagingOrder | None:
    return session.scalar(select(ImagingOrder).where(ImagingOrder.accession_number == accession))


def get_order(session: Session, accession: str) -> ImagingOrder:
    order = _by_accession(session, accession)
    if order is None:
        raise NoSuchOrder(f"no order with accession number {accession!r}")
    return order


def create_order(session: Session, data: OrderCreate) -> ImagingOrder:
    """Store a new scheduled order. Raises OrderRejected (accession or UID already used)."""
    accession = data.accession_number or _new_accession(session, utcnow().strftime("%y%m%d"))
    if data.accession_number and _by_accession(session, accession) is not None:
        raise OrderRejected("accession_number", "is already used by another order")
    study_uid = data.study_instance_uid or str(generate_uid())
    taken = session.scalar(
        select(ImagingOrder.id).where(ImagingOrder.study_instance_uid == study_uid)
    )
    if taken is not None:
        raise OrderRejected("study_instance_uid", "is already used by another order")
    order = ImagingOrder(
        accession_number=accession,
        status=OrderStatus.SCHEDULED,
        patient_id=data.patient_id,
        study_instance_uid=study_uid,
        requested_procedure_id=data.requested_procedure_id or accession,
        scheduled_procedure_step_id=accession,
        created_at=utcnow(),
    )
    _apply(order, data)
    session.add(order)
    session.flush()
    return order


def _apply(order: ImagingOrder, data: OrderCreate | OrderUpdate) -> None:
    sent = data.model_fields_set if isinstance(data, OrderUpdate) else set(type(data).model_fields)
    values = data.model_dump()
    for field in sent:
        value = values.get(field)
        if field in ("accession_number", "study_instance_uid", "requested_procedure_id",
                     "patient_id"):
            continue
        if field == "scheduled_at":
            if value is None:
                raise OrderRejected("scheduled_at", "must not be empty")
            # Hospital wall-clock time as sent; the worklist answers in the same time.
            order.scheduled_date = value.strftime("%Y%m%d")
            order.scheduled_time = value.strftime("%H%M%S")
            continue
        if value is None:
            if field in _REQUIRED:
                raise OrderRejected(field, "must not be empty")
            value = ""
        setattr(order, field, value)
        if field == "patient_name":
            order.patient_name_folded = fold_name(value)
    order.updated_at = utcnow()


_REQUIRED = frozenset(
    {"patient_name", "ma_dich_vu", "requested_procedure_description", "modality",
     "scheduled_station_ae_title"}
)


def update_order(session: Session, accession: str, data: OrderUpdate) -> ImagingOrder:
    """Change the fields sent. Only open orders (scheduled, in progress) can change."""
    order = get_order(session, accession)
    if order.status not in OPEN_STATUSES:
        raise OrderRejected("status", f"an order that is {order.status} cannot be changed")
    _apply(order, data)
    session.flush()
    return order


def cancel_order(session: Session, accession: str, reason: str = "") -> ImagingOrder:
    """Cancel an open order; it leaves the worklist. Images already linked keep the link."""
    order = get_order(session, accession)
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status not in OPEN_STATUSES:
        raise OrderRejected("status", f"an order that is {order.status} cannot be cancelled")
    order.status = OrderStatus.CANCELLED
    order.cancel_reason = reason[:200]
    order.updated_at = utcnow()
    session.flush()
    return order


def link_study_to_order(session: Session, study: Study) -> ImagingOrder | None:
    """Called by ingest for each new study: attach it to the order with its accession number
    (or its pre-assigned Study Instance UID) and mark the order's images as received."""
    conditions = [ImagingOrder.study_instance_uid == study.study_instance_uid]
    if study.accession_number:
        conditions.append(ImagingOrder.accession_number == study.accession_number)
    order = session.scalar(
        select(ImagingOrder)
        .where(or_(*conditions), ImagingOrder.study_fk.is_(None),
               ImagingOrder.status != OrderStatus.CANCELLED)
        .order_by(ImagingOrder.id)
        .limit(1)
    )
    if order is None:
        return None
    order.study_fk = study.id
    if order.status in OPEN_STATUSES:
        order.status = OrderStatus.IMAGES_RECEIVED
    order.updated_at = utcnow()
    log.info("study %s linked to order %s", study.study_instance_uid, order.accession_number)
    return order


@dataclass(frozen=True)
class OrderView:
    """What the API returns for an order."""

    accession_number: str
    status: str
    patient_id: str
    patient_name: str
    study_instance_uid: str
    requested_procedure_id: str
    scheduled_procedure_step_id: str
    modality: str
    scheduled_station_ae_title: str
    scheduled_date: str
    scheduled_time: str
    ma_the_bhyt: str
    ma_lk: str
    ma_dich_vu: str
    linked_study: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def view(order: ImagingOrder) -> OrderView:
    return OrderView(
        accession_number=order.accession_number,
        status=str(order.status),
        patient_id=order.patient_id,
        patient_name=order.patient_name,
        study_instance_uid=order.study_instance_uid,
        requested_procedure_id=order.requested_procedure_id,
        scheduled_procedure_step_id=order.scheduled_procedure_step_id,
        modality=order.modality,
        scheduled_station_ae_title=order.scheduled_station_ae_title,
        scheduled_date=order.scheduled_date,
        scheduled_time=order.scheduled_time,
        ma_the_bhyt=order.ma_the_bhyt,
        ma_lk=order.ma_lk,
        ma_dich_vu=order.ma_dich_vu,
        linked_study=order.study_fk is not None,
    )
