"""C-MOVE to a DCMTK storescp and C-GET with DCMTK getscu: instances arrive intact."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.filereader import _read_file_meta_info, read_preamble

from pacs.archive import Archive
from pacs.demo import load_demo
from tests.support.dcmtk import echoscu, require
from tests.support.qr import BACKENDS, RunningScp, backend_url, findscu, start_scp
from tests.support.server import free_port

DAY = dt.date(2026, 12, 3)
J2K = "transfer_syntaxes/mr_j2k_lossless.dcm"
NATIVE = "transfer_syntaxes/mr_explicit_vr_le.dcm"


def ingest_file(archive: Archive, path: Path) -> None:
    """Store a Part 10 file's dataset bytes as a C-STORE would."""
    raw = path.read_bytes()
    buffer = io.BytesIO(raw)
    read_preamble(buffer, False)
    meta = _read_file_meta_info(buffer)
    archive.ingest(
        raw[buffer.tell():],
        transfer_syntax_uid=str(meta.TransferSyntaxUID),
        sop_class_uid=str(meta.MediaStorageSOPClassUID),
        sop_instance_uid=str(meta.MediaStorageSOPInstanceUID),
    )


class StoreScp:
    """DCMTK storescp as the C-MOVE destination, on a free port of 127.0.0.1."""

    def __init__(self, out: Path, accept_all: bool) -> None:
        self.out = out
        self.port = free_port()
        out.mkdir(parents=True, exist_ok=True)
        args = [require("storescp"), "-aet", "STORESCP", "-od", str(out)]
        if accept_all:
            args.append("+xa")
        self.process = subprocess.Popen([*args, str(self.port)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not echoscu(self.port, "PROBE", "STORESCP"):
            assert time.monotonic() < deadline, "storescp did not start"
            time.sleep(0.1)

    def files(self) -> list[Path]:
        return sorted(p for p in self.out.iterdir() if p.is_file())

    def clear(self) -> None:
        for path in self.files():
            path.unlink()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module", params=BACKENDS)
def scp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        shared_dicom: Path) -> Iterator[RunningScp]:
    base = tmp_path_factory.mktemp("retrieve")
    running = start_scp(base / "data", backend_url(request),
                        peers=[("FINDSCU", 104), ("MOVESCU", 104), ("GETSCU", 104)])
    load_demo(running.archive, DAY, lambda n: None)
    ingest_file(running.archive, shared_dicom / J2K)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def destinations(scp: RunningScp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    dict[str, StoreScp]
]:
    from pacs.peers import add_peer

    base = tmp_path_factory.mktemp("dest")
    stores = {"STORESCP": StoreScp(base / "all", accept_all=True),
              "PLAINSCP": StoreScp(base / "plain", accept_all=False)}
    with scp.archive.sessions.begin() as session:
        for title, store in stores.items():
            add_peer(session, title, "127.0.0.1", store.port)
    yield stores
    for store in stores.values():
        store.stop()


def uid_of(scp: RunningScp, accession: str | None = None, patient_id: str | None = None) -> str:
    keys = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"]
    keys.append(f"AccessionNumber={accession}" if accession else f"PatientID={patient_id}")
    (rsp,) = findscu(scp.port, keys).responses
    return str(rsp.StudyInstanceUID)


def stored_datasets(scp: RunningScp, study_uid: str) -> dict[str, pydicom.Dataset]:
    from pacs.index.retrieve import resolve

    with scp.archive.sessions() as session:
        items = resolve(session, "STUDY", {"StudyInstanceUID": study_uid})
    return {
        i.sop_instance_uid: pydicom.dcmread(scp.archive.store.path(i.file_key)) for i in items
    }


def run(tool: str, port: int, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require(tool), "-v", *args, "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=300)


def same_dataset(received: pydicom.Dataset, original: pydicom.Dataset) -> bool:
    def body(ds: pydicom.Dataset) -> dict[int, object]:
        return {int(el.tag): el.value for el in ds if el.tag.group != 0x0002}

    return body(received) == body(original)


def test_move_study_arrives_intact(scp: RunningScp, destinations: dict[str, StoreScp]) -> None:
    store = destinations["STORESCP"]
    store.clear()
    study = uid_of(scp, accession=f"DEMO{DAY:%y%m%d}01")
    result = run("movescu", scp.port, ["-S", "-aet", "MOVESCU", "-aec", "LIENTHONG",
                                       "-aem", "STORESCP", "-k", "QueryRetrieveLevel=STUDY",
                                       "-k", f"StudyInstanceUID={study}"])
    assert result.returncode == 0, result.stderr
    assert "Received Final Move Response (Success)" in result.stdout + result.stderr
    originals = stored_datasets(scp, study)
    received = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in store.files()}
    assert set(received) == set(originals) and len(received) == 40
    for uid, ds in received.items():
        assert same_dataset(ds, originals[uid]), uid


def test_move_series_and_image_levels_report_counts(
    scp: RunningScp, destinations: dict[str, StoreScp], shared_dicom: Path
) -> None:
    store = destinations["STORESCP"]
    store.clear()
    j2k = pydicom.dcmread(shared_dicom / J2K)
    series = run("movescu", scp.port, ["-S", "-aet", "MOVESCU", "-aec", "LIENTHONG",
                                       "-aem", "STORESCP", "-k", "QueryRetrieveLevel=SERIES",
                                       "-k", f"StudyInstanceUID={j2k.StudyInstanceUID}",
                                       "-k", f"SeriesInstanceUID={j2k.SeriesInstanceUID}"])
    assert "Received Final Move Response (Success)" in series.stderr + series.stdout
    (path,) = store.files()
    arrived = pydicom.dcmread(path)
    # storescp +xa accepts JPEG 2000: the instance travels as stored, bytes unchanged.
    assert arrived.file_meta.TransferSyntaxUID == j2k.file_meta.TransferSyntaxUID
    assert arrived.PixelData == j2k.PixelData
    store.clear()
    # Patient Root, IMAGE level, with pynetdicom so the counts can be read from the response.
    from pynetdicom import AE
    from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelMove  # type: ignore

    ae = AE("MOVESCU")
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIENTHONG")
    assert assoc.is_established
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.PatientID = "BN0001"
    study = uid_of(scp, accession=f"DEMO{DAY:%y%m%d}01")
    images = list(stored_datasets(scp, study).values())[:3]
    identifier.StudyInstanceUID = study
    identifier.SeriesInstanceUID = images[0].SeriesInstanceUID
    identifier.SOPInstanceUID = [ds.SOPInstanceUID for ds in images]
    try:
        responses = list(assoc.send_c_move(identifier, "STORESCP",
                                           PatientRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()
    pending = [s for s, _ in responses if s.Status == 0xFF00]
    assert [int(s.NumberOfRemainingSuboperations) for s in pending] == [2, 1, 0]
    final = responses[-1][0]
    assert final.Status == 0x0000
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations,
            final.NumberOfWarningSuboperations) == (3, 0, 0)
    assert len(store.files()) == 3


def test_move_transcodes_for_a_destination_without_jpeg2000(
    scp: RunningScp, destinations: dict[str, StoreScp], shared_dicom: Path
) -> None:
    store = destinations["PLAINSCP"]  # storescp's default: uncompressed syntaxes only
    store.clear()
    j2k = pydicom.dcmread(shared_dicom / J2K)
    result = run("movescu", scp.port, ["-S", "-aet", "MOVESCU", "-aec", "LIENTHONG",
                                       "-aem", "PLAINSCP", "-k", "QueryRetrieveLevel=STUDY",
                                       "-k", f"StudyInstanceUID={j2k.StudyInstanceUID}"])
    assert "Received Final Move Response (Success)" in result.stdout + result.stderr
    (path,) = store.files()
    arrived = pydicom.dcmread(path)
    assert not arrived.file_meta.TransferSyntaxUID.is_compressed
    assert arrived.SOPInstanceUID == j2k.SOPInstanceUID
    native = pydicom.dcmread(shared_dicom / NATIVE)
    assert np.array_equal(arrived.pixel_array, native.pixel_array)


def test_move_to_unknown_destination_is_refused(scp: RunningScp) -> None:
    study = uid_of(scp, accession=f"DEMO{DAY:%y%m%d}01")
    result = run("movescu", scp.port, ["-S", "-aet", "MOVESCU", "-aec", "LIENTHONG",
                                       "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY",
                                       "-k", f"StudyInstanceUID={study}"])
    log = result.stdout + result.stderr
    assert "MoveDestinationUnknown" in log or "0xa801" in log.lower(), log


def test_move_with_malformed_identifier_is_refused(
    scp: RunningScp, destinations: dict[str, StoreScp]
) -> None:
    result = run("movescu", scp.port, ["-S", "-aet", "MOVESCU", "-aec", "LIENTHONG",
                                       "-aem", "STORESCP", "-k", "QueryRetrieveLevel=SERIES",
                                       "-k", "SeriesInstanceUID=1.2.3"])
    log = result.stdout + result.stderr
    assert "DataSetDoesNotMatchSOPClass" in log or "0xa900" in log.lower(), log


def test_get_series_arrives_intact(scp: RunningScp, tmp_path: Path) -> None:
    study = uid_of(scp, patient_id="BN0003")
    originals = stored_datasets(scp, study)
    result = run("getscu", scp.port, ["-S", "-aet", "GETSCU", "-aec", "LIENTHONG",
                                      "-od", str(tmp_path), "-k", "QueryRetrieveLevel=STUDY",
                                      "-k", f"StudyInstanceUID={study}"])
    assert result.returncode == 0, result.stderr
    received = [pydicom.dcmread(p) for p in tmp_path.iterdir()]
    assert [ds.SOPInstanceUID for ds in received] == list(originals)
    assert same_dataset(received[0], originals[received[0].SOPInstanceUID])


def test_get_transcodes_jpeg2000_for_an_uncompressed_only_requester(
    scp: RunningScp, tmp_path: Path, shared_dicom: Path
) -> None:
    j2k = pydicom.dcmread(shared_dicom / J2K)
    # getscu proposes only uncompressed syntaxes for the C-STORE sub-operations by default.
    result = run("getscu", scp.port, ["-S", "-aet", "GETSCU", "-aec", "LIENTHONG",
                                      "-od", str(tmp_path), "-k", "QueryRetrieveLevel=IMAGE",
                                      "-k", f"StudyInstanceUID={j2k.StudyInstanceUID}",
                                      "-k", f"SeriesInstanceUID={j2k.SeriesInstanceUID}",
                                      "-k", f"SOPInstanceUID={j2k.SOPInstanceUID}"])
    assert result.returncode == 0, result.stderr
    (path,) = list(tmp_path.iterdir())
    arrived = pydicom.dcmread(path)
    assert not arrived.file_meta.TransferSyntaxUID.is_compressed
    assert arrived.SOPInstanceUID == j2k.SOPInstanceUID
    native = pydicom.dcmread(shared_dicom / NATIVE)
    assert np.array_equal(arrived.pixel_array, native.pixel_array)


def test_get_reports_failure_when_nothing_acceptable(scp: RunningScp, shared_dicom: Path) -> None:
    # A requester that takes MR images only in JPEG-LS: the J2K instance cannot be sent.
    from pynetdicom import AE, build_role
    from pynetdicom.sop_class import (
        MRImageStorage,  # type: ignore
        StudyRootQueryRetrieveInformationModelGet,  # type: ignore
    )

    j2k = pydicom.dcmread(shared_dicom / J2K)
    ae = AE("GETSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(MRImageStorage, ["1.2.840.10008.1.2.4.80"])
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIENTHONG",
                         ext_neg=[build_role(MRImageStorage, scp_role=True)])
    assert assoc.is_established
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = j2k.StudyInstanceUID
    identifier.SeriesInstanceUID = j2k.SeriesInstanceUID
    try:
        responses = list(assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    final, body = responses[-1]
    assert final.Status == 0xA702  # every sub-operation failed
    assert final.NumberOfFailedSuboperations == 1
    assert body.FailedSOPInstanceUIDList == j2k.SOPInstanceUID


def test_get_from_unknown_calling_ae_is_refused(scp: RunningScp, tmp_path: Path) -> None:
    result = run("getscu", scp.port, ["-S", "-aet", "STRANGER", "-aec", "LIENTHONG",
                                      "-od", str(tmp_path), "-k", "QueryRetrieveLevel=STUDY",
                                      "-k", "StudyInstanceUID=1.2.3"])
    assert result.returncode != 0
    assert "Association Rejected" in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


def test_retrieves_are_audited(scp: RunningScp, destinations: dict[str, StoreScp]) -> None:
    from sqlalchemy import select

    from lienthong.audit import AuditEvent

    with scp.archive.sessions() as session:
        rows = list(session.scalars(select(AuditEvent).where(
            AuditEvent.actor_kind == "dicom_ae")))
    actions = {(r.actor, r.action.split(" ")[0], r.outcome) for r in rows}
    assert ("MOVESCU", "C-MOVE", "success") in actions
    assert ("GETSCU", "C-GET", "success") in actions
    assert ("MOVESCU", "C-MOVE", "failure") in actions  # the malformed identifier
    assert any("unknown move destination 'NOWHERE'" in r.detail for r in rows)
    study_rows = [r for r in rows if r.action == "C-MOVE to STORESCP" and r.study_instance_uid]
    assert study_rows and "40 instance(s)" in study_rows[0].detail
