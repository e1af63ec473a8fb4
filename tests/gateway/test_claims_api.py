"""``/api/claims/episodes`` through the real app, real API keys, users and the access policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pydicom
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from claims import synthetic
from claims.records.models import ClaimEpisode, ClaimExport, ClaimRow
from gateway.auth.roles import Role, Scope
from lienthong.audit import AuditEvent
from pacs.demo import demo_datasets, encode
from tests.claims.conftest import DAY
from tests.claims.test_import import payload


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture()
def his(make_api_key: Callable[..., str]) -> dict[str, str]:
    return {"X-API-Key": make_api_key("his-claims", Scope.CLAIMS)}


def test_his_posts_an_episode_stored_exactly_and_audited(
    client: TestClient, his: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    body = payload(11)
    response = client.post("/api/claims/episodes", json=body, headers=his)
    assert response.status_code == 201, response.text
    result = response.json()
    xml1: dict[str, str] = body["XML1"]  # type: ignore[assignment]
    assert result["ma_lk"] == xml1["MA_LK"]
    expected_rows = sum(len(v) if isinstance(v, list) else 1 for k, v in body.items()
                        if k != "accession_numbers")
    assert result["rows"] == expected_rows == count(sessions, ClaimRow)
    with sessions() as session:
        episode = session.scalars(select(ClaimEpisode)).one()
        assert episode.source == "api" and str(episode.t_tongchi_bv) == xml1["T_TONGCHI_BV"]
        row = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "claims.episode.import")).one()
    assert row.actor == "his-claims" and row.patient_id == xml1["MA_BN"]


def test_invalid_episode_is_422_listing_every_problem_and_nothing_is_stored(
    client: TestClient, his: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    bad = payload(12)
    xml1 = dict(bad["XML1"])  # type: ignore[call-overload]
    xml1.update(HO_TEN="", NGAY_VAO="2026-11-30", T_THUOC=12.5)
    bad["XML1"] = xml1
    bad["XML2"][0]["SO_LUONG"] = "abc"  # type: ignore[index]
    bad["XML99"] = []
    response = client.post("/api/claims/episodes", json=bad, headers=his)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problems = response.json()["problems"]
    where = {(p["table"], p["field"]) for p in problems}
    assert {("XML1", "HO_TEN"), ("XML1", "NGAY_VAO"), ("XML1", "T_THUOC"),
            ("XML2", "SO_LUONG"), ("XML99", "")} <= where
    assert all(p["message_vi"] and p["message_en"] for p in problems)
    assert count(sessions, ClaimEpisode) == 0 and count(sessions, ClaimRow) == 0


def test_accession_for_a_missing_imaging_row_is_refused(
    client: TestClient, his: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    body = payload(16)
    body["accession_numbers"] = {"7": "ACC0016"}
    response = client.post("/api/claims/episodes", json=body, headers=his)
    assert response.status_code == 422
    assert [(p["table"], p["row"], p["field"]) for p in response.json()["problems"]] == \
        [("XML3", 8, "accession_numbers")]
    assert count(sessions, ClaimEpisode) == 0


@pytest.mark.parametrize("body", [[], "text", {"XML2": []}])
def test_payload_that_is_not_an_episode_is_422(
    client: TestClient, his: dict[str, str], sessions: sessionmaker[Session], body: object
) -> None:
    response = client.post("/api/claims/episodes", json=body, headers=his)
    assert response.status_code == 422
    assert count(sessions, ClaimEpisode) == 0


def test_access_follows_the_policy(
    client: TestClient, token_for: Callable[[Role], str],
    make_api_key: Callable[..., str], sessions: sessionmaker[Session]
) -> None:
    body = payload(13)
    assert client.post("/api/claims/episodes", json=body).status_code == 401
    for role in (Role.RADIOLOGIST, Role.REFERRING_DOCTOR, Role.EXTERNAL_SPECIALIST):
        headers = {"Authorization": f"Bearer {token_for(role)}"}
        assert client.post("/api/claims/episodes", json=body,
                           headers=headers).status_code == 403, role
    orders_key = {"X-API-Key": make_api_key("his-orders", Scope.ORDERS)}
    assert client.post("/api/claims/episodes", json=body, headers=orders_key).status_code == 403
    assert count(sessions, ClaimEpisode) == 0
    clerk = {"Authorization": f"Bearer {token_for(Role.CLAIMS_CLERK)}"}
    assert client.post("/api/claims/episodes", json=body, headers=clerk).status_code == 201
    assert count(sessions, ClaimEpisode) == 1


def test_status_shows_exports_and_whether_imaging_reached_the_archive(
    app: FastAPI, client: TestClient, his: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    ds = next(iter(demo_datasets(dt.date(2026, 12, 3))))
    assert isinstance(ds, pydicom.Dataset)
    ds.AccessionNumber = "ACC0014"
    app.state.archive.ingest(encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
                             sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID)
    e = synthetic.episode(14, DAY, lines=20)
    body: dict[str, Any] = {"XML1": e.xml1, **{k: v for k, v in e.tables.items() if k != "XML1"}}
    assert len(body["XML3"]) >= 2
    body["accession_numbers"] = {"0": "ACC0014", "1": "ACC9999"}
    ma_lk = client.post("/api/claims/episodes", json=body, headers=his).json()["ma_lk"]
    status = client.get(f"/api/claims/episodes/{ma_lk}", headers=his)
    assert status.status_code == 200, status.text
    view = status.json()
    assert view["imaging"] == [{"accession_number": "ACC0014", "study_in_archive": True},
                               {"accession_number": "ACC9999", "study_in_archive": False}]
    assert view["exports"] == [] and view["source"] == "api"
    assert client.get("/api/claims/episodes/NO-SUCH", headers=his).status_code == 404
    with sessions() as session:
        reads = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "claims.episode.read")).all()
    assert [r.detail for r in reads] == [f"MA_LK {ma_lk}"]


def test_an_accepted_episode_cannot_be_replaced(
    client: TestClient, his: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    body = payload(15)
    first = client.post("/api/claims/episodes", json=body, headers=his).json()
    with sessions.begin() as session:
        session.add(ClaimExport(episode_fk=first["episode_id"], version=1,
                                record_digest="0" * 64, built_on=dt.date(2026, 11, 30),
                                export_day=dt.date(2026, 11, 30), file_name="x.xml",
                                status="accepted"))
    response = client.post("/api/claims/episodes", json=payload(15), headers=his)
    assert response.status_code == 409 and "accepted" in response.json()["detail"]
    assert count(sessions, ClaimRow) == first["rows"]
