"""The worklist, report and template endpoints and the static viewer, through the real app:
roles from the access policy, drafts, signing into the archive, amendments, filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import select

from gateway.auth.roles import Role, Scope
from gateway.viewer import CSP
from lienthong.clock import hospital_today
from pacs.archive import Archive
from pacs.demo import demo_datasets, encode
from pacs.index.models import Instance, Study
from pacs.reports.archive import ENCAPSULATED_PDF_STORAGE
from pacs.reports.service import latest_signed_report

Tokens = Callable[[Role], str]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def studies(app: FastAPI, shared_dicom: Path) -> dict[str, str]:
    """The real head CT plus one image of each demo patient; name -> StudyInstanceUID."""
    archive: Archive = app.state.archive
    datasets = [pydicom.dcmread(p) for p in
                sorted((shared_dicom / "series" / "ct_head_ge_tilt").glob("*.dcm"))[:3]]
    seen: set[str] = set()
    for ds in demo_datasets(dt.date(2026, 12, 3)):
        if ds.StudyInstanceUID not in seen:
            seen.add(ds.StudyInstanceUID)
            datasets.append(ds)
    uids: dict[str, str] = {}
    for i, ds in enumerate(datasets):
        archive.ingest(encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
                       sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID)
        uids["ct" if i < 3 else f"{ds.PatientID}:{ds.Modality}"] = ds.StudyInstanceUID
    return uids


def _of_patient(studies: dict[str, str], patient_id: str) -> set[str]:
    return {uid for key, uid in studies.items() if key.startswith(f"{patient_id}:")}


def _worklist(client: TestClient, token: str, **params: str) -> list[dict[str, object]]:
    response = client.get("/api/worklist", params=params, headers=_auth(token))
    assert response.status_code == 200, response.text
    return list(response.json()["studies"])


def test_worklist_filters_by_patient_with_and_without_diacritics(
    client: TestClient, token_for: Tokens, studies: dict[str, str]
) -> None:
    token = token_for(Role.RADIOLOGIST)
    assert len(_worklist(client, token)) == len(set(studies.values()))
    luong = _of_patient(studies, "BN0002")
    assert luong
    for query in ("Lương Thị", "luong thi", "LUONG", "dao", "BN0002"):
        rows = _worklist(client, token, patient=query)
        assert {r["study_instance_uid"] for r in rows} == luong, query
    assert _worklist(client, token, patient="không có ai") == []
    mr = {r["study_instance_uid"] for r in _worklist(client, token, modality="MR")}
    assert mr == {uid for key, uid in studies.items() if key.endswith(":MR")}


def test_worklist_days_use_study_date_or_the_day_received(
    client: TestClient, token_for: Tokens, studies: dict[str, str]
) -> None:
    token = token_for(Role.RADIOLOGIST)
    # The shared head CT has no Study Date: it counts on the day it was received (today).
    today = hospital_today().strftime("%Y%m%d")
    rows = _worklist(client, token, date_from=today, date_to=today)
    assert studies["ct"] in {r["study_instance_uid"] for r in rows}
    # The demo studies are dated (relative to 2026-12-03); one day selects only its own.
    day = _worklist(client, token, date_from="20261203", date_to="20261203")
    assert all(r["study_date"] in ("20261203", "") for r in day)
    assert _worklist(client, token, date_from="19000101", date_to="19000102") == []


def test_worklist_status_follows_the_report(
    client: TestClient, token_for: Tokens, studies: dict[str, str]
) -> None:
    token = token_for(Role.RADIOLOGIST)
    uid = studies["ct"]
    assert {r["study_instance_uid"] for r in _worklist(client, token, status="unread")} == set(
        studies.values())
    client.put(f"/api/reports/{uid}/draft", json={"findings": "f", "conclusion": "c"},
               headers=_auth(token)).raise_for_status()
    assert [r["study_instance_uid"] for r in _worklist(client, token, status="draft")] == [uid]
    client.post(f"/api/reports/{uid}/sign", headers=_auth(token)).raise_for_status()
    signed = _worklist(client, token, status="signed")
    assert [(r["study_instance_uid"], r["report_status"]) for r in signed] == [(uid, "signed")]
    ordered = _worklist(client, token, sort="report_status", order="desc")
    assert ordered[0]["report_status"] == "unread" and ordered[-1]["study_instance_uid"] == uid


def test_worklist_shows_the_order_and_claim_link(
    app: FastAPI, client: TestClient, token_for: Tokens, make_api_key: Callable[..., str],
    shared_dicom: Path,
) -> None:
    from tests.pacs.test_orders import order_payload

    his = {"X-API-Key": make_api_key("his", Scope.ORDERS)}
    created = client.post("/api/orders", json=order_payload(), headers=his)
    assert created.status_code == 201, created.text
    accession = created.json()["accession_number"]
    files = sorted((shared_dicom / "series" / "ct_head_ge_tilt").glob("*.dcm"))
    ordered, unordered = pydicom.dcmread(files[0]), pydicom.dcmread(files[1])
    ordered.AccessionNumber = accession
    for ds, study_uid in ((ordered, "1.2.826.0.1.3680043.10.1446.9.71"),
                          (unordered, "1.2.826.0.1.3680043.10.1446.9.72")):
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, f"{study_uid}.1"
        app.state.archive.ingest(encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
                                 sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID)
    rows = {r["study_instance_uid"]: r for r in _worklist(client, token_for(Role.RADIOLOGIST))}
    linked = rows["1.2.826.0.1.3680043.10.1446.9.71"]
    assert linked["accession_number"] == accession
    assert linked["order_status"] == "images_received"
    assert linked["order_procedure"] == "Chụp CT sọ não không tiêm thuốc"
    assert linked["claim_link"] == "LK2026120300017"
    alone = rows["1.2.826.0.1.3680043.10.1446.9.72"]
    assert (alone["order_status"], alone["order_procedure"], alone["claim_link"]) == ("", "", "")


def test_worklist_refuses_bad_parameters(client: TestClient, token_for: Tokens) -> None:
    token = token_for(Role.RADIOLOGIST)
    for params in ({"sort": "password"}, {"date_from": "2026-12-03"}, {"status": "lost"},
                   {"date_to": "20261399"},
                   {"order": "sideways"}, {"limit": "0"}):
        response = client.get("/api/worklist", params=params, headers=_auth(token))
        assert response.status_code in (400, 422), params


def test_report_lifecycle_over_http(
    app: FastAPI, client: TestClient, token_for: Tokens, studies: dict[str, str]
) -> None:
    token = token_for(Role.RADIOLOGIST)
    uid = studies["ct"]
    empty = client.get(f"/api/reports/{uid}", headers=_auth(token)).json()
    assert empty["current"] is None and empty["history"] == []
    draft = client.put(f"/api/reports/{uid}/draft", headers=_auth(token),
                       json={"findings": "<script>alert(1)</script>", "conclusion": "Bình thường"})
    assert draft.status_code == 200 and draft.json()["status"] == "draft"
    signed = client.post(f"/api/reports/{uid}/sign", headers=_auth(token))
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert (body["status"], body["reader_username"], body["archived"]) == (
        "signed", "u-radiologist", True)
    assert body["signed_at"] is not None
    # Immutable once signed: no draft save, no second signature.
    again = client.put(f"/api/reports/{uid}/draft", headers=_auth(token),
                       json={"findings": "x", "conclusion": "y"})
    assert again.status_code == 409
    assert client.post(f"/api/reports/{uid}/sign", headers=_auth(token)).status_code == 409
    page = client.get(f"/api/reports/{uid}", headers=_auth(token))
    assert page.headers["content-type"].startswith("application/json")
    assert page.json()["current"]["findings"] == "<script>alert(1)</script>"
    # The archive copy is an Encapsulated PDF in the same study.
    with app.state.sessions() as s:
        study = s.scalars(select(Study).where(Study.study_instance_uid == uid)).one()
        pdfs = s.scalars(select(Instance).where(
            Instance.sop_class_uid == ENCAPSULATED_PDF_STORAGE)).all()
        assert len(pdfs) == 1 and "DOC" in study.modalities_in_study
    pdf = client.get(f"/api/reports/{uid}/pdf", headers=_auth(token))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    # Amendment: version 2 as a draft, version 1 kept.
    assert client.post(f"/api/reports/{uid}/amend", headers=_auth(token),
                       json={"reason": ""}).status_code == 422
    amended = client.post(f"/api/reports/{uid}/amend", headers=_auth(token),
                          json={"reason": "Bổ sung"})
    assert (amended.status_code, amended.json()["version"]) == (200, 2)
    history = client.get(f"/api/reports/{uid}", headers=_auth(token)).json()["history"]
    assert [(v["version"], v["status"]) for v in history] == [(2, "draft"), (1, "signed")]
    assert client.get(f"/api/reports/{uid}/pdf?version=1",
                      headers=_auth(token)).status_code == 200
    assert client.get(f"/api/reports/{uid}/pdf?version=7",
                      headers=_auth(token)).status_code == 404


def test_bad_report_requests(client: TestClient, token_for: Tokens,
                             studies: dict[str, str]) -> None:
    token = token_for(Role.RADIOLOGIST)
    uid = studies["ct"]
    assert client.get("/api/reports/1.2.3.4", headers=_auth(token)).status_code == 404
    assert client.post(f"/api/reports/{uid}/sign", headers=_auth(token)).status_code == 404
    client.put(f"/api/reports/{uid}/draft", headers=_auth(token),
               json={"findings": "only findings", "conclusion": ""}).raise_for_status()
    assert client.post(f"/api/reports/{uid}/sign", headers=_auth(token)).status_code == 422
    too_long = {"findings": "x" * 20_001, "conclusion": ""}
    assert client.put(f"/api/reports/{uid}/draft", headers=_auth(token),
                      json=too_long).status_code == 422
    assert client.put(f"/api/reports/{uid}/draft", headers=_auth(token),
                      json={"findings": "", "conclusion": "", "template_id": 99}).status_code == 404
    assert client.post(f"/api/reports/{uid}/amend", headers=_auth(token),
                       json={"reason": "r"}).status_code == 409


def test_roles_decide_who_reads_writes_and_signs(
    client: TestClient, token_for: Tokens, studies: dict[str, str]
) -> None:
    uid = studies["ct"]
    doctor = token_for(Role.REFERRING_DOCTOR)
    clerk = token_for(Role.CLAIMS_CLERK)
    assert client.get(f"/api/reports/{uid}", headers=_auth(doctor)).status_code == 200
    assert client.get("/api/worklist", headers=_auth(doctor)).status_code == 200
    draft = {"findings": "f", "conclusion": "c"}
    assert client.put(f"/api/reports/{uid}/draft", headers=_auth(doctor),
                      json=draft).status_code == 403
    assert client.post(f"/api/reports/{uid}/sign", headers=_auth(doctor)).status_code == 403
    assert client.get("/api/worklist", headers=_auth(clerk)).status_code == 403
    assert client.get(f"/api/reports/{uid}", headers=_auth(clerk)).status_code == 403
    assert client.get("/api/worklist").status_code == 401


def test_templates_are_kept_by_admins(client: TestClient, token_for: Tokens) -> None:
    admin = token_for(Role.ADMIN)
    radiologist = token_for(Role.RADIOLOGIST)
    body = {"name": "CT sọ não", "modality": "CT", "body_part": "HEAD",
            "findings": "Nhu mô não bình thường.", "conclusion": "Bình thường"}
    assert client.post("/api/report-templates", json=body,
                       headers=_auth(radiologist)).status_code == 403
    created = client.post("/api/report-templates", json=body, headers=_auth(admin))
    assert created.status_code == 201
    template_id = created.json()["id"]
    listed = client.get("/api/report-templates", params={"modality": "CT", "body_part": "HEAD"},
                        headers=_auth(radiologist)).json()
    assert [t["name"] for t in listed] == ["CT sọ não"]
    changed = client.put(f"/api/report-templates/{template_id}", headers=_auth(admin),
                         json={**body, "name": "CT sọ não (sửa)"})
    assert changed.json()["name"] == "CT sọ não (sửa)"
    assert client.delete(f"/api/report-templates/{template_id}",
                         headers=_auth(admin)).status_code == 204
    assert client.delete(f"/api/report-templates/{template_id}",
                         headers=_auth(admin)).status_code == 404
    assert client.post("/api/report-templates", headers=_auth(admin),
                       json={**body, "modality": ""}).status_code == 422


def test_viewer_files_are_served_from_the_build_index(
    app: FastAPI, client: TestClient, tmp_path: Path
) -> None:
    assert client.get("/viewer/").status_code in (200, 404)  # depends on a local build
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Lienthong</title>")
    (dist / "assets" / "app-1234.js").write_text("export {};")
    (tmp_path / "secret.txt").write_text("not for the web")
    from gateway.viewer import index_dist

    app.state.viewer_files = index_dist(dist)
    page = client.get("/viewer/")
    assert page.status_code == 200 and "Lienthong" in page.text
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["cache-control"] == "no-cache"
    asset = client.get("/viewer/assets/app-1234.js")
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "immutable" in asset.headers["cache-control"]
    # Paths are looked up, never joined: an escape attempt gets the app page, not the file.
    for probe in ("/viewer/..%2Fsecret.txt", "/viewer/assets/../../secret.txt"):
        response = client.get(probe)
        assert "not for the web" not in response.text
    app.state.viewer_files = {}
    missing = client.get("/viewer/")
    assert missing.status_code == 404 and "npm run build" in missing.json()["detail"]
    assert client.get("/viewer", follow_redirects=False).status_code == 308


def test_signed_report_carries_the_readers_profile_from_the_admin_api(
    app: FastAPI, client: TestClient, token_for: Tokens, studies: dict[str, str]
) -> None:
    token = token_for(Role.RADIOLOGIST)
    admin = _auth(token_for(Role.ADMIN))
    profile = {"display_name": "BS. Nguyễn Thị Lan", "practice_code": "001234/HCM-CCHN"}
    assert client.patch("/api/admin/users/u-radiologist", json=profile,
                        headers=_auth(token)).status_code == 403
    assert client.patch("/api/admin/users/nobody", json=profile, headers=admin).status_code == 404
    bad = client.patch("/api/admin/users/u-radiologist", json={"practice_code": "../x y"},
                       headers=admin)
    assert bad.status_code == 422
    changed = client.patch("/api/admin/users/u-radiologist", json=profile, headers=admin)
    assert changed.status_code == 200, changed.text
    assert {k: changed.json()[k] for k in profile} == profile
    uid = studies["ct"]
    client.put(f"/api/reports/{uid}/draft", headers=_auth(token),
               json={"findings": "Không thấy bất thường.", "conclusion": "Bình thường"}
               ).raise_for_status()
    signed = client.post(f"/api/reports/{uid}/sign", headers=_auth(token))
    assert signed.status_code == 200 and signed.json()["reader_name"] == "BS. Nguyễn Thị Lan"
    # The code is fixed at signing: a later profile change does not touch the signed report.
    client.patch("/api/admin/users/u-radiologist", json={"practice_code": "009999/HCM-CCHN"},
                 headers=admin).raise_for_status()
    with app.state.sessions() as session:
        report = latest_signed_report(session, uid)
    assert report is not None and report.reader_practice_code == "001234/HCM-CCHN"
