"""MPPS SCP with pynetdicom as the modality: N-CREATE / N-SET, and the order follows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore

from pacs.orders.schema import parse_create
from pacs.orders.service import create_order, get_order
from tests.pacs.test_orders import order_payload
from tests.support.qr import BACKENDS, RunningScp, backend_url, start_scp


@pytest.fixture(scope="module", params=BACKENDS)
def scp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningScp]:
    running = start_scp(tmp_path_factory.mktemp("mpps") / "data", backend_url(request),
                        peers=[("CT01", 104)])
    yield running
    running.stop()


@pytest.fixture()
def assoc(scp: RunningScp) -> Iterator[Association]:
    ae = AE("CT01")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    association = ae.associate("127.0.0.1", scp.port, ae_title="LIENTHONG")
    assert association.is_established
    yield association
    association.release()


def new_order(scp: RunningScp, accession: str) -> str:
    with scp.archive.sessions.begin() as session:
        order = create_order(session, parse_create(order_payload(accession_number=accession)))
        return order.study_instance_uid


def order_status(scp: RunningScp, accession: str) -> str:
    with scp.archive.sessions() as session:
        return str(get_order(session, accession).status)


def in_progress(accession: str, study_uid: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Lê^Thị Hồng"
    ds.PatientID = "BN0100"
    step = Dataset()
    step.AccessionNumber = accession
    step.StudyInstanceUID = study_uid
    step.ScheduledProcedureStepID = accession
    ds.ScheduledStepAttributesSequence = [step]
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "CT01"
    ds.PerformedProcedureStepStartDate = "20261203"
    ds.PerformedProcedureStepStartTime = "143500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = "CT"
    return ds


def status_change(value: str) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = value
    ds.PerformedProcedureStepEndDate = "20261203"
    ds.PerformedProcedureStepEndTime = "144500"
    return ds


def test_in_progress_then_completed(scp: RunningScp, assoc: Association) -> None:
    study_uid = new_order(scp, "MPPS-1")
    uid = generate_uid()
    status, reply = assoc.send_n_create(in_progress("MPPS-1", study_uid),
                                        ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    assert reply is not None and reply.PerformedProcedureStepStatus == "IN PROGRESS"
    assert order_status(scp, "MPPS-1") == "in_progress"
    status, _ = assoc.send_n_set(status_change("COMPLETED"), ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    assert order_status(scp, "MPPS-1") == "completed"
    # A completed step is final (PS3.4 F.7.2.2.2).
    status, _ = assoc.send_n_set(status_change("DISCONTINUED"),
                                 ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0110
    assert order_status(scp, "MPPS-1") == "completed"


def test_discontinued(scp: RunningScp, assoc: Association) -> None:
    study_uid = new_order(scp, "MPPS-2")
    uid = generate_uid()
    status, _ = assoc.send_n_create(in_progress("MPPS-2", study_uid),
                                    ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    status, _ = assoc.send_n_set(status_change("DISCONTINUED"),
                                 ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    assert order_status(scp, "MPPS-2") == "discontinued"


def test_bad_requests(scp: RunningScp, assoc: Association) -> None:
    study_uid = new_order(scp, "MPPS-3")
    completed = in_progress("MPPS-3", study_uid)
    completed.PerformedProcedureStepStatus = "COMPLETED"
    status, _ = assoc.send_n_create(completed, ModalityPerformedProcedureStep, generate_uid())
    assert status.Status == 0x0106  # must start IN PROGRESS
    assert order_status(scp, "MPPS-3") == "scheduled"
    uid = generate_uid()
    assert assoc.send_n_create(in_progress("MPPS-3", study_uid),
                               ModalityPerformedProcedureStep, uid)[0].Status == 0x0000
    status, _ = assoc.send_n_create(in_progress("MPPS-3", study_uid),
                                    ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0111  # duplicate SOP instance
    status, _ = assoc.send_n_set(status_change("COMPLETED"), ModalityPerformedProcedureStep,
                                 generate_uid())
    assert status.Status == 0x0112  # no such SOP instance
    status, _ = assoc.send_n_set(status_change("FINISHED"), ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0106


def test_step_without_an_order_is_kept(scp: RunningScp, assoc: Association,
                                       tmp_path: Path) -> None:
    from sqlalchemy import select

    from pacs.orders.models import PerformedProcedureStep

    uid = generate_uid()
    status, _ = assoc.send_n_create(in_progress("UNKNOWN", generate_uid()),
                                    ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    with scp.archive.sessions() as session:
        step = session.scalar(select(PerformedProcedureStep).where(
            PerformedProcedureStep.sop_instance_uid == uid))
        assert step is not None and step.order_fk is None and step.calling_ae_title == "CT01"
