"""C-FIND SCP (Patient Root, Study Root): DCMTK findscu as the peer, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore

from pacs.demo import PATIENTS, load_demo
from tests.support.qr import BACKENDS, RunningScp, backend_url, findscu, start_scp

DAY = dt.date(2026, 12, 3)
UTF8 = "SpecificCharacterSet=ISO_IR 192"


@pytest.fixture(scope="module", params=BACKENDS)
def scp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    RunningScp
]:
    running = start_scp(tmp_path_factory.mktemp("find") / "data", backend_url(request),
                        query={"max_results": 50})
    load_demo(running.archive, DAY, lambda n: None)
    yield running
    running.stop()


def study_uids(scp: RunningScp) -> dict[str, str]:
    """Accession number -> Study Instance UID, read back through C-FIND itself."""
    result = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "AccessionNumber",
                                "StudyInstanceUID"])
    return {str(r.AccessionNumber): str(r.StudyInstanceUID) for r in result.responses}


def keywords(ds: Dataset) -> set[str]:
    return {el.keyword for el in ds}


def test_study_root_study_level_returns_exactly_the_requested_keys(scp: RunningScp) -> None:
    result = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "PatientID=BN0001", "StudyDate",
                                "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                                "NumberOfStudyRelatedInstances", "PatientName"])
    assert result.returncode == 0, result.log
    assert len(result.responses) == 1
    (rsp,) = result.responses
    assert keywords(rsp) == {"SpecificCharacterSet", "QueryRetrieveLevel", "PatientID",
                             "StudyDate", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                             "NumberOfStudyRelatedInstances", "PatientName",
                             "StudyInstanceUID"}
    assert rsp.SpecificCharacterSet == "ISO_IR 192"
    assert str(rsp.PatientName) == PATIENTS[0].name
    assert rsp.StudyDate == "20261203"
    assert rsp.ModalitiesInStudy == "CT"
    assert int(rsp.NumberOfStudyRelatedSeries) == 1
    assert int(rsp.NumberOfStudyRelatedInstances) == 40


def test_ascii_only_answer_keeps_the_default_character_set(scp: RunningScp) -> None:
    result = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "PatientID=BN0003",
                                "AccessionNumber"])
    (rsp,) = result.responses
    assert "SpecificCharacterSet" not in rsp
    assert rsp.AccessionNumber.startswith("DEMO")


def test_patient_root_patient_level_with_counts(scp: RunningScp) -> None:
    result = findscu(scp.port, ["QueryRetrieveLevel=PATIENT", "PatientID", "PatientName",
                                "NumberOfPatientRelatedStudies",
                                "NumberOfPatientRelatedInstances"], model="-P")
    assert result.returncode == 0, result.log
    by_id = {r.PatientID: r for r in result.responses}
    assert set(by_id) == {"BN0001", "BN0002", "BN0003"}
    assert str(by_id["BN0002"].PatientName) == "Lương^Thị Đào"
    assert int(by_id["BN0002"].NumberOfPatientRelatedStudies) == 2
    assert int(by_id["BN0002"].NumberOfPatientRelatedInstances) == 21


def test_patient_root_study_level_needs_the_patient_id(scp: RunningScp) -> None:
    missing = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "StudyInstanceUID"], model="-P")
    assert missing.responses == []
    assert "DataSetDoesNotMatchSOPClass" in missing.log  # 0xA900
    found = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "PatientID=BN0002",
                               "StudyInstanceUID", "ModalitiesInStudy"], model="-P")
    assert sorted(str(r.ModalitiesInStudy) for r in found.responses) == ["CR", "MR"]
    assert all(r.PatientID == "BN0002" for r in found.responses)


@pytest.mark.parametrize("model", ["-S", "-P"])
def test_series_and_image_levels(scp: RunningScp, model: str) -> None:
    uids = study_uids(scp)
    ct_study = uids[f"DEMO{DAY:%y%m%d}01"]
    series = findscu(scp.port, ["QueryRetrieveLevel=SERIES", "PatientID=BN0001",
                                f"StudyInstanceUID={ct_study}", "SeriesInstanceUID",
                                "Modality", "NumberOfSeriesRelatedInstances"], model=model)
    assert series.returncode == 0, series.log
    (rsp,) = series.responses
    assert rsp.Modality == "CT" and int(rsp.NumberOfSeriesRelatedInstances) == 40
    assert rsp.StudyInstanceUID == ct_study
    images = findscu(scp.port, ["QueryRetrieveLevel=IMAGE", "PatientID=BN0001",
                                f"StudyInstanceUID={ct_study}",
                                f"SeriesInstanceUID={rsp.SeriesInstanceUID}",
                                "SOPInstanceUID", "InstanceNumber", "SOPClassUID"], model=model)
    assert len(images.responses) == 40
    assert sorted(int(r.InstanceNumber) for r in images.responses) == list(range(1, 41))
    assert {r.SOPClassUID for r in images.responses} == {"1.2.840.10008.5.1.4.1.1.2"}
    one = images.responses[3].SOPInstanceUID
    single = findscu(scp.port, ["QueryRetrieveLevel=IMAGE", "PatientID=BN0001",
                                f"StudyInstanceUID={ct_study}",
                                f"SeriesInstanceUID={rsp.SeriesInstanceUID}",
                                f"SOPInstanceUID={one}"], model=model)
    assert [r.SOPInstanceUID for r in single.responses] == [one]


def test_wildcards_on_vietnamese_names(scp: RunningScp) -> None:
    star = findscu(scp.port, ["QueryRetrieveLevel=STUDY", UTF8, "PatientName=Lương*",
                              "PatientID"])
    assert sorted(r.PatientID for r in star.responses) == ["BN0002", "BN0002"]
    question = findscu(scp.port, ["QueryRetrieveLevel=STUDY", UTF8,
                                  "PatientName=Tr?n^Qu?c*", "PatientID"])
    assert [r.PatientID for r in question.responses] == ["BN0003"]
    exact = findscu(scp.port, ["QueryRetrieveLevel=STUDY", UTF8,
                               "PatientName=Nguyễn^Văn An", "PatientID"])
    assert [r.PatientID for r in exact.responses] == ["BN0001"]
    # Without fuzzy matching, names are case- and diacritic-sensitive.
    plain = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "PatientName=NGUYEN*", "PatientID"])
    assert plain.returncode == 0 and plain.responses == []


def test_sql_wildcards_in_values_match_only_themselves(scp: RunningScp) -> None:
    for value in ("BN%", "BN000_", "%"):
        result = findscu(scp.port, ["QueryRetrieveLevel=STUDY", f"PatientID={value}"])
        assert result.returncode == 0 and result.responses == [], value
    prefix = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "PatientID=BN000?"])
    assert len(prefix.responses) == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20261203", 4),
        ("20261201-", 4),
        ("-20261202", 0),
        ("20261202-20261204", 4),
        ("20261204-", 0),
    ],
)
def test_date_ranges(scp: RunningScp, value: str, expected: int) -> None:
    result = findscu(scp.port, ["QueryRetrieveLevel=STUDY", f"StudyDate={value}"])
    assert result.returncode == 0, result.log
    assert len(result.responses) == expected


def test_time_range_and_modality(scp: RunningScp) -> None:
    morning = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "StudyTime=0900-1030",
                                 "PatientID"])
    assert sorted(r.PatientID for r in morning.responses) == ["BN0001", "BN0002"]
    cr = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "ModalitiesInStudy=CR", "PatientID"])
    assert sorted(r.PatientID for r in cr.responses) == ["BN0002", "BN0003"]


def test_uid_list_matching(scp: RunningScp) -> None:
    uids = list(study_uids(scp).values())
    wanted = "\\".join(uids[:2])
    result = findscu(scp.port, ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={wanted}"])
    assert sorted(r.StudyInstanceUID for r in result.responses) == sorted(uids[:2])


@pytest.mark.parametrize(
    "keys",
    [
        ["QueryRetrieveLevel=STUDY", "StudyDate=2026-12-03x"],  # malformed date
        ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.*"],  # wildcard in a UID
        ["QueryRetrieveLevel=STUDY", "StudyTime=25h"],  # malformed time
        ["QueryRetrieveLevel=SERIES", "Modality"],  # no StudyInstanceUID above the level
        ["QueryRetrieveLevel=PATIENT", "PatientID"],  # no patient level in Study Root
        ["QueryRetrieveLevel=FRAME", "PatientID"],  # unsupported level
        ["PatientID=BN0001"],  # no Query/Retrieve Level
    ],
)
def test_bad_identifiers_are_refused(scp: RunningScp, keys: list[str]) -> None:
    result = findscu(scp.port, keys)
    assert result.responses == []
    assert "DataSetDoesNotMatchSOPClass" in result.log, result.log  # 0xA900


def test_unknown_calling_ae_is_refused(scp: RunningScp) -> None:
    result = findscu(scp.port, ["QueryRetrieveLevel=STUDY"], calling="STRANGER")
    assert result.returncode != 0
    assert "Association Rejected" in result.log


def test_result_cap_refuses_with_out_of_resources(
    tmp_path: Path, scp: RunningScp
) -> None:
    capped = start_scp(tmp_path / "capped", scp.settings.effective_database_url,
                       query={"max_results": 2}, peers=())
    try:
        over = findscu(capped.port, ["QueryRetrieveLevel=STUDY", "PatientID"])
        assert over.responses == []
        assert "OutOfResources" in over.log or "A700" in over.log.upper(), over.log
        within = findscu(capped.port, ["QueryRetrieveLevel=STUDY", "PatientID=BN0002"])
        assert len(within.responses) == 2
    finally:
        capped.stop()


def test_unsupported_optional_key_is_returned_empty(scp: RunningScp) -> None:
    result = findscu(scp.port, ["QueryRetrieveLevel=STUDY", "PatientID=BN0003",
                                "OtherPatientIDsSequence", "StudyInstanceUID"])
    (rsp,) = result.responses
    assert "OtherPatientIDsSequence" in rsp and len(rsp.OtherPatientIDsSequence) == 0
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientID = "BN0003"
    identifier.OtherPatientIDsSequence = []
    answers = _pynetdicom_find(scp.port, identifier, b"")
    assert [s for s, _ in answers] == [0xFF01, 0x0000]  # Pending: optional keys not supported


def _pynetdicom_find(port: int, identifier: Dataset, ext: bytes) -> list[tuple[int, Dataset]]:
    ae = AE("FINDSCU")
    item = SOPClassExtendedNegotiation()
    item.sop_class_uid = StudyRootQueryRetrieveInformationModelFind
    item.service_class_application_information = ext
    assoc = ae.associate(
        "127.0.0.1",
        port,
        [build_context(StudyRootQueryRetrieveInformationModelFind)],
        ae_title="LIENTHONG",
        ext_neg=[item] if ext else None,
    )
    assert assoc.is_established
    answers = []
    try:
        for status, ds in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            answers.append((int(status.Status), ds))
    finally:
        assoc.release()
    return answers


def test_fuzzy_names_by_extended_negotiation(scp: RunningScp) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "LUONG^THI DAO"
    identifier.PatientID = ""
    fuzzy = _pynetdicom_find(scp.port, identifier, b"\x00\x00\x01")
    assert [ds.PatientID for s, ds in fuzzy if s == 0xFF00] == ["BN0002", "BN0002"]
    assert fuzzy[-1][0] == 0x0000
    strict = _pynetdicom_find(scp.port, identifier, b"\x00\x00\x00")
    assert [s for s, _ in strict] == [0x0000]


def test_fuzzy_names_by_setting_for_findscu(tmp_path: Path, scp: RunningScp) -> None:
    fuzzy = start_scp(tmp_path / "fuzzy", scp.settings.effective_database_url,
                      query={"fuzzy_person_names": True}, peers=())
    try:
        for value in ("nguyen^van*", "NGUYỄN^VĂN AN", "Nguyễn^Văn An"):
            result = findscu(fuzzy.port, ["QueryRetrieveLevel=STUDY", UTF8,
                                          f"PatientName={value}", "PatientID"])
            assert [r.PatientID for r in result.responses] == ["BN0001"], value
    finally:
        fuzzy.stop()


def test_combined_date_time_range_by_extended_negotiation(scp: RunningScp) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyDate = "20261202-20261203"
    identifier.StudyTime = "1000-1200"
    identifier.PatientID = ""
    combined = _pynetdicom_find(scp.port, identifier, b"\x00\x01")
    # One range, 2026-12-02 10:00 to 2026-12-03 12:00: the 09:15 study is inside, 14:15 not.
    assert sorted(ds.PatientID for s, ds in combined if s == 0xFF00) == [
        "BN0001", "BN0002", "BN0002"
    ]
    # Separately: any day in the range, between 10:00 and 12:00.
    separate = _pynetdicom_find(scp.port, identifier, b"\x00\x00")
    assert sorted(ds.PatientID for s, ds in separate if s == 0xFF00) == ["BN0002", "BN0002"]


def test_every_find_is_audited(scp: RunningScp) -> None:
    from sqlalchemy import select

    from lienthong.audit import AuditEvent, verify_chain

    findscu(scp.port, ["QueryRetrieveLevel=STUDY", "PatientID=BN0003", "StudyDate"])
    findscu(scp.port, ["QueryRetrieveLevel=STUDY", "StudyDate=bad"])
    with scp.archive.sessions() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.actor == "FINDSCU")))
        assert verify_chain(session).ok
    ok = [r for r in rows if r.patient_id == "BN0003" and r.action == "C-FIND STUDY"]
    assert ok and ok[-1].outcome == "success" and ok[-1].actor_kind == "dicom_ae"
    assert "1 match" in ok[-1].detail
    assert any(r.outcome == "failure" and "StudyDate" in r.detail for r in rows)
