"""Who may read and store through DICOMweb, and the audit rows every access leaves."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests
from pydicom import dcmread
from sqlalchemy import select

from gateway.auth.apikeys import create_api_key
from gateway.auth.roles import Role, Scope
from lienthong.audit import AuditEvent
from tests.gateway.dicomweb.conftest import Gateway, part10_to_ingest, variant

CT = "series/ct_head_ge_tilt/01.dcm"


def study_url(gateway: Gateway, key: str) -> str:
    return f"{gateway.dicomweb_url}/studies/{gateway.datasets[key].StudyInstanceUID}/metadata"


def test_no_credentials_is_401(gateway: Gateway) -> None:
    for url in (study_url(gateway, CT), f"{gateway.dicomweb_url}/studies"):
        response = requests.get(url, timeout=30)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", [Role.EXTERNAL_SPECIALIST, Role.CLAIMS_CLERK, Role.IT])
def test_roles_that_may_not_read_images_get_403(gateway: Gateway, role: Role) -> None:
    token = gateway.token(f"user-{role.value}", role)
    response = requests.get(
        study_url(gateway, CT), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 403


def test_referring_doctor_sees_only_their_own_studies(gateway: Gateway, shared_dicom: Path) -> None:
    raw = variant(
        (shared_dicom / CT).read_bytes(),
        ReferringPhysicianName="Trần^Văn Bình",
        SpecificCharacterSet="ISO_IR 192",
        PatientID="REF1",
    )
    part10_to_ingest(gateway.archive, raw)
    own = dcmread(io.BytesIO(raw), stop_before_pixels=True)
    token = gateway.token("tran.van.binh", Role.REFERRING_DOCTOR)
    client = gateway.client(token)
    metadata = client.retrieve_study_metadata(own.StudyInstanceUID)
    assert metadata[0]["00080018"]["Value"] == [own.SOPInstanceUID]
    other = requests.get(
        study_url(gateway, CT), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert other.status_code == 403
    found = client.search_for_studies()
    assert [s["0020000D"]["Value"][0] for s in found] == [own.StudyInstanceUID]


def test_every_study_access_is_audited_with_study_and_patient(gateway: Gateway) -> None:
    ds = gateway.datasets[CT]
    response = gateway.http.get(study_url(gateway, CT), timeout=30)
    assert response.status_code == 200
    with gateway.app.state.sessions() as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.study_instance_uid == ds.StudyInstanceUID)
            .order_by(AuditEvent.seq.desc())
        ).all()
    latest = rows[0]
    assert latest.actor == "radiologist1"
    assert latest.action == "GET /dicomweb/studies/{study}/metadata"
    assert latest.outcome == "success"
    assert latest.patient_id == ds.PatientID
    assert latest.address == "127.0.0.1"


def test_refused_study_access_is_audited(gateway: Gateway) -> None:
    token = gateway.token("tran.van.binh", Role.REFERRING_DOCTOR)
    ds = gateway.datasets[CT]
    requests.get(study_url(gateway, CT), headers={"Authorization": f"Bearer {token}"}, timeout=30)
    with gateway.app.state.sessions() as session:
        denied = session.scalars(
            select(AuditEvent).where(
                AuditEvent.study_instance_uid == ds.StudyInstanceUID,
                AuditEvent.actor == "tran.van.binh",
                AuditEvent.outcome == "denied",
            )
        ).all()
    assert denied and denied[-1].patient_id == ds.PatientID


def test_stow_needs_a_role_or_scope_that_may_store(gateway: Gateway, shared_dicom: Path) -> None:
    token = gateway.token("tran.van.binh", Role.REFERRING_DOCTOR)
    ds = dcmread(io.BytesIO(variant((shared_dicom / CT).read_bytes())))
    with pytest.raises(requests.HTTPError) as refused:
        gateway.client(token).store_instances([ds])
    assert refused.value.response.status_code == 403


def _api_key(gateway: Gateway, name: str, scope: Scope) -> str:
    with gateway.app.state.write_sessions.begin() as session:
        _, plaintext = create_api_key(session, gateway.app.state.secret_key, name, [scope])
    return plaintext


def test_stow_scoped_api_key_stores_and_dicomweb_scope_does_not(
    gateway: Gateway, shared_dicom: Path
) -> None:
    modality = _api_key(gateway, "modality-gateway", Scope.STOW)
    viewer_tool = _api_key(gateway, "outside-tool", Scope.DICOMWEB)
    ds = dcmread(io.BytesIO(variant((shared_dicom / CT).read_bytes(), PatientID="KEY1")))
    result = gateway.client(modality).store_instances([ds])
    assert [i.ReferencedSOPInstanceUID for i in result.ReferencedSOPSequence] == [
        ds.SOPInstanceUID
    ]
    with pytest.raises(requests.HTTPError) as refused:
        gateway.client(viewer_tool).store_instances([ds])
    assert refused.value.response.status_code == 403
    # The dicomweb scope reads what the stow scope stored, and the store was audited.
    found = gateway.client(viewer_tool).search_for_studies(search_filters={"PatientID": "KEY1"})
    assert [s["0020000D"]["Value"][0] for s in found] == [ds.StudyInstanceUID]
    with gateway.app.state.sessions() as session:
        stored = session.scalars(
            select(AuditEvent).where(
                AuditEvent.actor == "modality-gateway",
                AuditEvent.study_instance_uid == ds.StudyInstanceUID,
            )
        ).all()
    assert [(e.patient_id, e.outcome) for e in stored] == [("KEY1", "success")]
