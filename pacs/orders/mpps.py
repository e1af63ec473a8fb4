"""Modality Performed Procedure Step (PS3.4 F.7): the modality reports progress; the order follows.

Data functions on plain values: the SCP handler turns datasets into these calls. They flush and
never commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lienthong.db import utcnow
from pacs.errors import PacsError
from pacs.orders.models import ImagingOrder, OrderStatus, PerformedProcedureStep

log = logging.getLogger(__name__)

IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
_ORDER_STATUS = {
    IN_PROGRESS: OrderStatus.IN_PROGRESS,
    COMPLETED: OrderStatus.COMPLETED,
    DISCONTINUED: OrderStatus.DISCONTINUED,
}


class MppsRefused(PacsError):
    """An N-CREATE/N-SET the SCP must refuse, with its PS3.4 F.7.2 status."""

    http_status = 409

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.dimse_status = status


def _find_order(session: Session, accession: str, study_uid: str) -> ImagingOrder | None:
    conditions = []
    if accession:
        conditions.append(ImagingOrder.accession_number == accession)
    if study_uid:
        conditions.append(ImagingOrder.study_instance_uid == study_uid)
    if not conditions:
        return None
    return session.scalar(select(ImagingOrder).where(or_(*conditions)).limit(1))


def _follow(order: ImagingOrder | None, status: str) -> None:
    """Move the order along with the step; a cancelled order stays cancelled."""
    if order is None or order.status == OrderStatus.CANCELLED:
        return
    target = _ORDER_STATUS[status]
    if target is OrderStatus.IN_PROGRESS and order.status != OrderStatus.SCHEDULED:
        return  # images may already be in; "in progress" never moves an order back
    order.status = target
    order.updated_at = utcnow()


def create_step(
    session: Session,
    sop_instance_uid: str,
    attributes: Mapping[str, Any],
    *,
    status: str,
    accession: str,
    study_uid: str,
    calling_ae_title: str,
) -> PerformedProcedureStep:
    """N-CREATE: a new step, which must start IN PROGRESS (F.7.2.1.2).

    Raises MppsRefused 0x0111 (duplicate instance) or 0x0106 (status other than IN PROGRESS).
    """
    if status != IN_PROGRESS:
        raise MppsRefused(0x0106, "Performed Procedure Step Status must be IN PROGRESS")
    existing = session.scalar(
        select(PerformedProcedureStep.id).where(
            PerformedProcedureStep.sop_instance_uid == sop_instance_uid
        )
    )
    if existing is not None:
        raise MppsRefused(0x0111, "an MPPS instance with this UID exists")
    order = _find_order(session, accession, study_uid)
    step = PerformedProcedureStep(
        sop_instance_uid=sop_instance_uid,
        status=status,
        order_fk=order.id if order else None,
        calling_ae_title=calling_ae_title,
        dataset_json=json.dumps(dict(attributes), ensure_ascii=False),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(step)
    _follow(order, status)
    session.flush()
    return step


def update_step(
    session: Session, sop_instance_uid: str, changes: Mapping[str, Any], *, status: str | None
) -> PerformedProcedureStep:
    """N-SET: change a step that is still IN PROGRESS; COMPLETED/DISCONTINUED are final.

    Raises MppsRefused 0x0112 (no such instance), 0x0110 (already final) or 0x0106 (bad status).
    """
    step = session.scalar(
        select(PerformedProcedureStep).where(
            PerformedProcedureStep.sop_instance_uid == sop_instance_uid
        )
    )
    if step is None:
        raise MppsRefused(0x0112, "no such MPPS instance")
    if step.status != IN_PROGRESS:
        raise MppsRefused(0x0110, f"the step is {step.status} and can no longer change")
    if status is not None and status not in _ORDER_STATUS:
        raise MppsRefused(0x0106, f"unknown Performed Procedure Step Status {status!r}")
    merged = json.loads(step.dataset_json)
    merged.update(changes)
    step.dataset_json = json.dumps(merged, ensure_ascii=False)
    step.updated_at = utcnow()
    if status is not None and status != step.status:
        step.status = status
        order = session.get(ImagingOrder, step.order_fk) if step.order_fk else None
        _follow(order, status)
    session.flush()
    return step
