"""``/api/orders`` with a real app, real API keys and the real access policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth.roles import Role, Scope
from lienthong.audit import AuditEvent
from pacs.orders.models import ImagingOrder
from tests.pacs.test_orders import order_payload


def orders_in(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count(ImagingOrder.id))) or 0)


@pytest.fixture()
def his(make_api_key: Callable[..., str]) -> dict[str, str]:
    return {"X-API-Key": make_api_key("his", Scope.ORDERS)}


def test_create_read_update_cancel(client: TestClient, his: dict[str, str],
                                   sessions: sessionmaker[Session]) -> None:
    created = client.post("/api/orders", json=order_payload(), headers=his)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status"] == "scheduled" and order["patient_name"] == "Lê^Thị Hồng"
    accession = order["accession_number"]
    read = client.get(f"/api/orders/{accession}", headers=his)
    assert read.status_code == 200 and read.json()["study_instance_uid"] == \
        order["study_instance_uid"]
    changed = client.patch(f"/api/orders/{accession}", json={"modality": "MR"}, headers=his)
    assert changed.status_code == 200 and changed.json()["modality"] == "MR"
    cancelled = client.post(f"/api/orders/{accession}/cancel", json={"reason": "trùng chỉ định"},
                            headers=his)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    with sessions() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"order.create", "order.update", "order.cancel"} <= actions


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"patient_id": ""}, "patient_id"),
        ({"ma_the_bhyt": "12345"}, "ma_the_bhyt"),
        ({"modality": "ZZ"}, "modality"),
        ({"scheduled_at": "not a time"}, "scheduled_at"),
        ({"patient_name": None}, "patient_name"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, his: dict[str, str], sessions: sessionmaker[Session],
    changes: dict[str, Any], field: str,
) -> None:
    response = client.post("/api/orders", json=order_payload(**changes), headers=his)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"{field}:")
    assert orders_in(sessions) == 0


def test_duplicate_accession_is_422(client: TestClient, his: dict[str, str]) -> None:
    assert client.post("/api/orders", json=order_payload(accession_number="A1"),
                       headers=his).status_code == 201
    again = client.post("/api/orders", json=order_payload(accession_number="A1"), headers=his)
    assert again.status_code == 422 and again.json()["detail"].startswith("accession_number:")


def test_unknown_order_is_404(client: TestClient, his: dict[str, str]) -> None:
    assert client.get("/api/orders/NOPE", headers=his).status_code == 404
    assert client.post("/api/orders/NOPE/cancel", headers=his).status_code == 404


def test_access_needs_the_orders_scope(
    client: TestClient, make_api_key: Callable[..., str], token_for: Callable[[Role], str],
    sessions: sessionmaker[Session],
) -> None:
    assert client.post("/api/orders", json=order_payload()).status_code == 401
    claims_key = {"X-API-Key": make_api_key("claims", Scope.CLAIMS)}
    assert client.post("/api/orders", json=order_payload(),
                       headers=claims_key).status_code == 403
    radiologist = {"Authorization": f"Bearer {token_for(Role.RADIOLOGIST)}"}
    assert client.post("/api/orders", json=order_payload(),
                       headers=radiologist).status_code == 403
    assert orders_in(sessions) == 0
