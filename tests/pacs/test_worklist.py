"""Order → worklist → images, end to end against `lienthong serve`: the HIS posts orders over
HTTP, DCMTK `findscu -W` reads the worklist, `storescu` sends the study, the order is linked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from pacs.demo import demo_datasets
from tests.pacs.test_orders import order_payload
from tests.support.dcmtk import storescu
from tests.support.qr import findscu
from tests.support.server import LienthongServer, lienthong

UTF8 = "SpecificCharacterSet=ISO_IR 192"
SPS = "ScheduledProcedureStepSequence[0]."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LienthongServer]:
    data_dir = tmp_path_factory.mktemp("worklist") / "data"
    for title in ("CT01", "MR01", "TESTSCU"):
        lienthong(data_dir, "ae", "add", title, "--host", "127.0.0.1", "--port", "104")
    srv = LienthongServer(data_dir, workers=1).start()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def his(server: LienthongServer) -> httpx.Client:
    key = lienthong(server.data_dir, "apikeys", "add", "his", "--scope", "orders")
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}",
                          headers={"X-API-Key": key.stdout.splitlines()[0].strip()})
    return client


@pytest.fixture(scope="module")
def orders(his: httpx.Client) -> dict[str, dict[str, Any]]:
    plans = {
        "ct_today": order_payload(accession_number="WL-CT-1"),
        "ct_tomorrow": order_payload(accession_number="WL-CT-2", patient_id="BN0200",
                                     patient_name="Đặng Văn Ông",
                                     scheduled_at="2026-12-04T08:00:00"),
        "mr_today": order_payload(accession_number="WL-MR-1", patient_id="BN0300",
                                  patient_name="Hoàng Thị Yến", modality="MR",
                                  scheduled_station_ae_title="MR01",
                                  requested_procedure_description="MRI cột sống thắt lưng"),
        "cancelled": order_payload(accession_number="WL-CT-9", patient_id="BN0900"),
    }
    created = {}
    for name, payload in plans.items():
        response = his.post("/api/orders", json=payload)
        assert response.status_code == 201, response.text
        created[name] = response.json()
    assert his.post("/api/orders/WL-CT-9/cancel", json={}).status_code == 200
    return created


def worklist(server: LienthongServer, *keys: str, calling: str = "CT01") -> list[pydicom.Dataset]:
    result = findscu(server.dicom_port, [UTF8, *keys], model="-W", calling=calling)
    assert result.returncode == 0, result.log
    return result.responses


def test_station_gets_its_scheduled_orders(
    server: LienthongServer, orders: dict[str, dict[str, Any]]
) -> None:
    entries = worklist(server, "PatientName", "PatientID", "AccessionNumber",
                       "StudyInstanceUID", "RequestedProcedureID",
                       f"{SPS}ScheduledStationAETitle=CT01",
                       f"{SPS}ScheduledProcedureStepStartDate",
                       f"{SPS}ScheduledProcedureStepStartTime", f"{SPS}Modality",
                       f"{SPS}ScheduledProcedureStepID")
    by_accession = {str(e.AccessionNumber): e for e in entries}
    assert set(by_accession) == {"WL-CT-1", "WL-CT-2"}  # not the MR, not the cancelled one
    today = by_accession["WL-CT-1"]
    assert today.SpecificCharacterSet == "ISO_IR 192"
    assert str(today.PatientName) == "Lê^Thị Hồng"
    assert today.StudyInstanceUID == orders["ct_today"]["study_instance_uid"]
    assert today.RequestedProcedureID == "WL-CT-1"
    (step,) = today.ScheduledProcedureStepSequence
    assert (step.ScheduledStationAETitle, step.Modality) == ("CT01", "CT")
    assert (step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime) == (
        "20261203", "143000")
    assert step.ScheduledProcedureStepID == "WL-CT-1"
    assert "PatientBirthDate" not in today  # only the requested keys


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ((f"{SPS}Modality=MR",), {"WL-MR-1"}),
        ((f"{SPS}ScheduledProcedureStepStartDate=20261204-",), {"WL-CT-2"}),
        ((f"{SPS}ScheduledProcedureStepStartDate=20261201-20261203",), {"WL-CT-1", "WL-MR-1"}),
        (("PatientID=BN0300",), {"WL-MR-1"}),
        (("PatientName=Hoàng*",), {"WL-MR-1"}),
        (("AccessionNumber=WL-CT-9",), set()),  # cancelled orders leave the worklist
    ],
)
def test_worklist_filters(server: LienthongServer, orders: dict[str, dict[str, Any]],
                          keys: tuple[str, ...], expected: set[str]) -> None:
    entries = worklist(server, "AccessionNumber", *keys, calling="MR01")
    assert {str(e.AccessionNumber) for e in entries} == expected


def test_malformed_worklist_query_is_refused(
    server: LienthongServer, orders: dict[str, dict[str, Any]]
) -> None:
    result = findscu(server.dicom_port,
                     ["AccessionNumber", f"{SPS}ScheduledProcedureStepStartDate=3 Dec"],
                     model="-W", calling="CT01")
    assert result.responses == []
    assert "DataSetDoesNotMatchSOPClass" in result.log, result.log


def test_images_with_the_accession_number_link_the_order(
    server: LienthongServer, his: httpx.Client, orders: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    order = orders["ct_today"]
    files = []
    for i, ds in enumerate(demo_datasets(dt.date(2026, 12, 3))):
        if i == 3:
            break
        # What the modality copies from the worklist entry into its images.
        ds.AccessionNumber = order["accession_number"]
        ds.StudyInstanceUID = order["study_instance_uid"]
        ds.PatientID = order["patient_id"]
        ds.PatientName = order["patient_name"]
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        path = tmp_path / f"{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    result = storescu(server.dicom_port, files)
    assert result.stderr.count("Received Store Response (Success)") == 3, result.stderr
    linked = his.get(f"/api/orders/{order['accession_number']}").json()
    assert linked["status"] == "images_received"
    assert linked["linked_study"] is True
    # A linked order is no longer scheduled: it leaves the worklist.
    entries = worklist(server, "AccessionNumber=WL-CT-1")
    assert entries == []
