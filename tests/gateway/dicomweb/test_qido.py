"""QIDO-RS through dicomweb-client: filters (the C-FIND engine's), Vietnamese names,
includefield, paging with a cap, and refused parameters."""

from __future__ import annotations

import requests

from tests.gateway.dicomweb.conftest import VIETNAMESE_NAMES, Gateway

CT = "series/ct_head_ge_tilt/01.dcm"
PATIENT_NAME = "00100010"
STUDY_UID = "0020000D"
SERIES_UID = "0020000E"
SOP_UID = "00080018"


def names(results: list[dict]) -> set[str]:
    return {
        r[PATIENT_NAME]["Value"][0]["Alphabetic"] for r in results if "Value" in r[PATIENT_NAME]
    }


def test_vietnamese_wildcard_finds_the_names(gateway: Gateway) -> None:
    found = gateway.client().search_for_studies(search_filters={"PatientName": "Lương*"})
    assert names(found) == {"Lương^Thị Đào", "Lương^Văn Minh"}


def test_fuzzy_matching_ignores_case_and_diacritics(gateway: Gateway) -> None:
    found = gateway.client().search_for_studies(
        search_filters={"PatientName": "luong*"}, fuzzymatching=True
    )
    assert names(found) == {"Lương^Thị Đào", "Lương^Văn Minh"}
    exact = gateway.client().search_for_studies(search_filters={"PatientName": "luong*"})
    assert exact == []


def test_study_level_has_the_required_attributes(gateway: Gateway) -> None:
    ds = gateway.datasets[CT]
    found = gateway.client().search_for_studies(
        search_filters={"StudyInstanceUID": ds.StudyInstanceUID}
    )
    assert len(found) == 1
    study = found[0]
    for tag in (
        "00080020",
        "00080030",
        "00080050",
        "00080061",
        "00080090",
        PATIENT_NAME,
        "00100020",
        "00100030",
        "00100040",
        STUDY_UID,
        "00200010",
        "00201206",
        "00201208",
        "00081190",
        "00080056",
    ):
        assert tag in study, tag
    assert study["00201206"]["Value"] == [1]
    assert study["00201208"]["Value"] == [3]
    assert study["00080061"]["Value"] == ["CT"]
    assert study["00081190"]["Value"] == [f"{gateway.dicomweb_url}/studies/{ds.StudyInstanceUID}"]
    assert list(study) == sorted(study)


def test_search_series_and_instances_of_a_study(gateway: Gateway) -> None:
    ds = gateway.datasets[CT]
    client = gateway.client()
    series = client.search_for_series(ds.StudyInstanceUID)
    assert [s[SERIES_UID]["Value"][0] for s in series] == [ds.SeriesInstanceUID]
    assert series[0]["00080060"]["Value"] == ["CT"]
    instances = client.search_for_instances(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, search_filters={"InstanceNumber": "1"}
    )
    assert [i[SOP_UID]["Value"][0] for i in instances] == [ds.SOPInstanceUID]
    assert instances[0]["00280010"]["Value"] == [512]


def test_search_all_series_by_modality(gateway: Gateway) -> None:
    series = gateway.client().search_for_series(search_filters={"Modality": "US"})
    assert series and {s["00080060"]["Value"][0] for s in series} == {"US"}


def test_includefield_and_all(gateway: Gateway) -> None:
    ds = gateway.datasets[CT]
    client = gateway.client()
    plain = client.search_for_instances(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, search_filters={"InstanceNumber": "1"}
    )
    assert "00083002" not in plain[0]  # AvailableTransferSyntaxUID is optional
    named = client.search_for_instances(
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        search_filters={"InstanceNumber": "1"},
        fields=["AvailableTransferSyntaxUID"],
    )
    assert named[0]["00083002"]["Value"] == ["1.2.840.10008.1.2.1"]
    everything = client.search_for_studies(
        search_filters={"StudyInstanceUID": ds.StudyInstanceUID}, fields=["all"]
    )
    assert "00100021" in everything[0]  # IssuerOfPatientID only with includefield=all


def test_limit_offset_and_cap(gateway: Gateway) -> None:
    client = gateway.client()
    everything = client.search_for_studies()
    assert len(everything) >= 5
    first = client.search_for_studies(limit=2)
    second = client.search_for_studies(limit=2, offset=2)
    assert len(first) == len(second) == 2
    assert first + second == everything[:4]
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies", params={"limit": "2"}, timeout=30
    )
    assert "additional results" in response.headers["warning"]
    gateway.settings.dicomweb.qido_max_limit = 3
    try:
        capped = client.search_for_studies(limit=1000)
    finally:
        gateway.settings.dicomweb.qido_max_limit = 1000
    assert len(capped) == 3


def test_date_range(gateway: Gateway) -> None:
    ds = next(d for d in gateway.datasets.values() if d.get("StudyDate"))
    day = ds.StudyDate
    inside = gateway.client().search_for_studies(search_filters={"StudyDate": f"{day}-{day}"})
    assert ds.StudyInstanceUID in {s[STUDY_UID]["Value"][0] for s in inside}
    outside = gateway.client().search_for_studies(search_filters={"StudyDate": "19000101-19000102"})
    assert outside == []


def test_sql_wildcards_in_values_match_literally(gateway: Gateway) -> None:
    for value in ("%", "_", "' OR '1'='1", "L%"):
        found = gateway.client().search_for_studies(search_filters={"PatientName": value})
        assert found == []


def test_bad_parameters_are_400(gateway: Gateway) -> None:
    url = f"{gateway.dicomweb_url}/studies"
    for params in (
        {"NotAnAttribute": "x"},
        {"StudyDate": "yesterday"},
        {"StudyInstanceUID": "1.2.*"},
        {"limit": "-1"},
        {"offset": str(2**70)},
        {"PatientName": "a\x00b"},
        {"SOPInstanceUID": "1.2.3"},  # not a study-level key
    ):
        response = gateway.http.get(url, params=params, timeout=30)
        assert response.status_code == 400, params


def test_xss_in_search_results_is_escaped(gateway: Gateway) -> None:
    response = gateway.http.get(
        f"{gateway.dicomweb_url}/studies", params={"PatientID": "XSS1"}, timeout=30
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom+json"
    assert b"<script>" not in response.content
    assert "\\u003cscript\\u003e" in response.text


def test_search_without_credentials_is_401(gateway: Gateway) -> None:
    response = requests.get(f"{gateway.dicomweb_url}/studies", timeout=30)
    assert response.status_code == 401


def test_vietnamese_names_are_all_loaded(gateway: Gateway) -> None:
    found = gateway.client().search_for_studies(search_filters={"PatientID": "VN*"})
    assert names(found) == set(VIETNAMESE_NAMES)
