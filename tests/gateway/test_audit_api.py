"""Audit search and export for admins: JSON filters, CSV, DICOM audit message XML."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable

from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth.roles import Role
from lienthong import audit

HOSTILE = '<script>alert("x")</script> & ]]>'


def _seed(sessions: sessionmaker[Session]) -> None:
    base = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    rows = [
        ("dr.an", "user", "radiologist", "GET /dicomweb/studies/{study}", "success",
         "1.2.840.1", "BN001", "", base),
        ("dr.an", "user", "radiologist", "GET /dicomweb/studies", "success", None, None, "",
         base + dt.timedelta(minutes=1)),
        ("CT01", "dicom_ae", None, "C-STORE", "success", "1.2.840.2", "BN002", "",
         base + dt.timedelta(hours=1)),
        ("mallory", "user", None, "login", "denied", None, None, HOSTILE,
         base + dt.timedelta(hours=2)),
        ("his", "api_key", None, "POST /api/orders", "success", None, "BN002",
         "=HYPERLINK(\"http://evil.example\")", base + dt.timedelta(hours=3)),
    ]
    for actor, kind, role, action, outcome, study, patient, detail, when in rows:
        audit.record_committed(
            sessions, actor=actor, actor_kind=kind, role=role, action=action, outcome=outcome,
            address="10.0.0.7", study_instance_uid=study, patient_id=patient, detail=detail,
            now=when,
        )


def _admin(token_for: Callable[[Role], str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(Role.ADMIN)}"}


def test_search_filters(
    client: TestClient, sessions: sessionmaker[Session], token_for: Callable[[Role], str]
) -> None:
    _seed(sessions)
    admin = _admin(token_for)
    by_patient = client.get("/api/admin/audit", params={"patient_id": "BN002"}, headers=admin)
    assert by_patient.status_code == 200
    # Newest first; the admin's own search names the patient, so it is audited against it too.
    assert [e["actor"] for e in by_patient.json()["items"]] == ["u-admin", "his", "CT01"]
    dicom = client.get("/api/admin/audit", params={"actor_kind": "dicom_ae"}, headers=admin)
    assert [e["action"] for e in dicom.json()["items"]] == ["C-STORE"]
    window = client.get("/api/admin/audit", headers=admin, params={
        "since": "2026-11-30T08:00:30Z", "until": "2026-11-30T10:30:00Z"})
    assert [e["actor"] for e in window.json()["items"]] == ["mallory", "CT01", "dr.an"]
    prefix = client.get("/api/admin/audit", params={"action": "GET /dicomweb"}, headers=admin)
    assert len(prefix.json()["items"]) == 2
    wildcard = client.get("/api/admin/audit", params={"action": "%"}, headers=admin)
    assert wildcard.json()["items"] == []  # LIKE metacharacters are escaped
    page = client.get("/api/admin/audit", params={"limit": 2, "offset": 1}, headers=admin)
    assert len(page.json()["items"]) == 2
    assert client.get("/api/admin/audit", params={"limit": 5000}, headers=admin).status_code \
        == 422
    assert client.get("/api/admin/audit", params={"outcome": "maybe"}, headers=admin) \
        .status_code == 422
    # Reading the trail is itself audited.
    own = client.get("/api/admin/audit", params={"action": "GET /api/admin/audit"},
                     headers=admin).json()["items"]
    assert own and own[0]["actor"] == "u-admin" and own[0]["outcome"] == "success"


def test_csv_export_neutralises_formulas(
    client: TestClient, sessions: sessionmaker[Session], token_for: Callable[[Role], str]
) -> None:
    _seed(sessions)
    response = client.get("/api/admin/audit.csv", params={"actor_kind": "api_key"},
                          headers=_admin(token_for))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    assert rows[0]["detail"] == "'=HYPERLINK(\"http://evil.example\")"
    assert rows[0]["patient_id"] == "BN002" and len(rows[0]["row_hash"]) == 64


def test_xml_export_is_dicom_audit_messages(
    client: TestClient, sessions: sessionmaker[Session], token_for: Callable[[Role], str]
) -> None:
    _seed(sessions)
    response = client.get("/api/admin/audit.xml", params={"until": "2026-11-30T10:30:00Z"},
                          headers=_admin(token_for))
    assert response.status_code == 200
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(response.content, parser)
    messages = root.findall("AuditMessage")
    assert len(messages) == 4
    first, _, store, login = messages
    assert [c.tag for c in first] == [
        "EventIdentification", "ActiveParticipant", "ActiveParticipant",
        "AuditSourceIdentification", "ParticipantObjectIdentification",
        "ParticipantObjectIdentification"]
    ident = first.find("EventIdentification")
    assert ident is not None
    assert ident.get("EventOutcomeIndicator") == "0" and ident.get("EventActionCode") == "R"
    assert ident.get("EventDateTime") == "2026-11-30T08:00:00.000000Z"
    event_id = ident.find("EventID")
    assert event_id is not None and event_id.get("csd-code") == "110103"
    requestor = first.findall("ActiveParticipant")[0]
    assert requestor.get("UserID") == "dr.an" and requestor.get("UserIsRequestor") == "true"
    assert requestor.get("NetworkAccessPointID") == "10.0.0.7"
    objects = first.findall("ParticipantObjectIdentification")
    assert [(o.get("ParticipantObjectID"), o.get("ParticipantObjectTypeCode")) for o in objects] \
        == [("1.2.840.1", "2"), ("BN001", "1")]
    assert store.findall("ActiveParticipant")[0].get("AlternativeUserID") == "AETITLES=CT01"
    store_id = store.find("EventIdentification/EventID")
    assert store_id is not None and store_id.get("csd-code") == "110104"
    login_ident = login.find("EventIdentification")
    assert login_ident is not None and login_ident.get("EventOutcomeIndicator") == "4"
    assert login.find("EventIdentification/EventID").get("csd-code") == "110114"  # type: ignore[union-attr]
    assert login.findtext("EventIdentification/EventOutcomeDescription") == HOSTILE
    assert b"<script>" not in response.content  # escaped, and round-trips exactly
