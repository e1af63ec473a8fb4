"""The `lienthong` command as hospital IT runs it: a subprocess per command, exit codes checked."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from lienthong.clock import hospital_today
from tests.support.dcmtk import echoscu
from tests.support.server import REPO_ROOT, LienthongServer, lienthong

USAGE_ERROR = 2


def peers(data_dir: Path) -> list[dict[str, object]]:
    result = lienthong(data_dir, "ae", "list", "--json")
    return json.loads(result.stdout)


def test_ae_add_list_remove(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert peers(data) == []
    lienthong(data, "ae", "add", "CT_SCANNER_1", "--host", "10.0.0.21", "--port", "104",
              "--description", "Máy CT tầng 1")
    lienthong(data, "ae", "add", "US_ROOM_3", "--host", "10.0.0.33", "--port", "11112")
    assert peers(data) == [
        {"ae_title": "CT_SCANNER_1", "host": "10.0.0.21", "port": 104,
         "description": "Máy CT tầng 1"},
        {"ae_title": "US_ROOM_3", "host": "10.0.0.33", "port": 11112, "description": ""},
    ]
    # Adding a known title again updates it rather than duplicating it.
    lienthong(data, "ae", "add", "US_ROOM_3", "--host", "10.0.0.34", "--port", "104")
    assert [(p["ae_title"], p["host"], p["port"]) for p in peers(data)] == [
        ("CT_SCANNER_1", "10.0.0.21", 104), ("US_ROOM_3", "10.0.0.34", 104)]

    removed = lienthong(data, "ae", "remove", "CT_SCANNER_1")
    assert removed.returncode == 0
    assert [p["ae_title"] for p in peers(data)] == ["US_ROOM_3"]
    missing = lienthong(data, "ae", "remove", "CT_SCANNER_1", check=False)
    assert missing.returncode == 1 and "no such AE title" in missing.stderr


BAD_ADDS = (
    ("A_TITLE_OF_17_CHR", "104"),  # longer than 16 characters
    ("BACK\\SLASH", "104"),  # backslash is the DICOM value separator
    ("   ", "104"),  # blank
    ("GOOD_TITLE", "0"),
    ("GOOD_TITLE", "65536"),
    ("GOOD_TITLE", "abc"),
)


def test_ae_add_rejects_bad_title_or_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for title, port in BAD_ADDS:
        result = lienthong(data, "ae", "add", title, "--host", "10.0.0.1", "--port", port,
                           check=False)
        assert result.returncode == USAGE_ERROR, (title, port, result.stderr)
        assert "Traceback" not in result.stderr
    assert peers(data) == []


def test_studies_json_after_demo(tmp_path: Path) -> None:
    from pacs.demo import demo_datasets

    data = tmp_path / "data"
    assert json.loads(lienthong(data, "studies", "--json").stdout) == []
    first = lienthong(data, "demo")
    assert first.returncode == 0

    expected: dict[str, dict[str, object]] = {}
    series: dict[str, set[str]] = defaultdict(set)
    for ds in demo_datasets(hospital_today()):
        study = expected.setdefault(ds.StudyInstanceUID, {
            "patient_id": ds.PatientID, "patient_name": str(ds.PatientName),
            "accession_number": ds.AccessionNumber, "modalities": set(), "instances": 0})
        study["modalities"].add(ds.Modality)  # type: ignore[attr-defined]
        study["instances"] += 1  # type: ignore[operator]
        series[ds.StudyInstanceUID].add(ds.SeriesInstanceUID)

    def listed() -> dict[str, dict[str, object]]:
        rows = json.loads(lienthong(data, "studies", "--json").stdout)
        return {r["study_instance_uid"]: r for r in rows}

    studies = listed()
    assert set(studies) == set(expected)
    for uid, want in expected.items():
        got = studies[uid]
        assert got["patient_id"] == want["patient_id"]
        assert got["patient_name"] == want["patient_name"]  # Vietnamese, exactly
        assert got["accession_number"] == want["accession_number"]
        assert set(str(got["modalities"]).split("\\")) == want["modalities"]
        assert got["instances"] == want["instances"]
        assert got["series"] == len(series[uid])
        assert int(got["size_bytes"]) > 0  # type: ignore[call-overload]

    # Loading the demo again stores nothing new: same UIDs, same content.
    again = lienthong(data, "demo")
    assert "0 new instances stored" in again.stdout
    assert listed() == studies


def alembic_version(data: Path) -> list[str]:
    with sqlite3.connect(data / "index.sqlite3") as conn:
        return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))


def schema(data: Path) -> list[str]:
    with sqlite3.connect(data / "index.sqlite3") as conn:
        return sorted(r[0] or "" for r in conn.execute("SELECT sql FROM sqlite_master"))


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first = lienthong(data, "db", "upgrade")
    assert first.returncode == 0
    version, tables = alembic_version(data), schema(data)
    assert version and any("CREATE TABLE instance" in t for t in tables)
    second = lienthong(data, "db", "upgrade")
    assert second.returncode == 0
    assert alembic_version(data) == version
    assert schema(data) == tables


def test_config_file_is_honoured(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "lienthong.toml"
    config.write_text('[dicom]\nae_title = "BV_TINH_PACS"\nallow_any_calling_ae = true\n',
                      encoding="utf-8")
    server = LienthongServer(data, global_args=("--config", str(config)),
                             called_ae="BV_TINH_PACS").start()
    try:
        # Our AE title comes from the file; no peer registered, yet any caller is accepted.
        assert echoscu(server.dicom_port, "ANY_CALLER", "BV_TINH_PACS")
        assert not echoscu(server.dicom_port, "ANY_CALLER", "LIENTHONG")
    finally:
        assert server.stop() == 0


def test_config_file_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "from-config"
    config = tmp_path / "lienthong.toml"
    config.write_text(f'data_dir = "{data}"\n', encoding="utf-8")
    subprocess.run([sys.executable, "-m", "lienthong.cli", "--config", str(config), "ae", "add",
                    "CT1", "--host", "h", "--port", "104"], check=True, cwd=REPO_ROOT,
                   capture_output=True, timeout=120)
    assert (data / "index.sqlite3").is_file()
    assert [p["ae_title"] for p in peers(data)] == ["CT1"]


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    result = lienthong(tmp_path / "data", "--config", str(tmp_path / "absent.toml"), "ae",
                       "list", check=False)
    assert result.returncode == USAGE_ERROR and "config file not found" in result.stderr


@pytest.mark.parametrize(
    "variable",
    ["LIENTHONG_DICOM_PORT", "LIENTHONG_DICOM__AE_TITEL", "LIENTHONG_STORAGE__MIN_FREE",
     "LIENTHONG_BOGUS"],
)
def test_unknown_setting_in_environment_is_refused(tmp_path: Path, variable: str) -> None:
    result = lienthong(tmp_path / "data", "ae", "list", "--json", env={variable: "1"},
                       check=False)
    assert result.returncode == USAGE_ERROR
    assert "invalid settings" in result.stderr
    assert not (tmp_path / "data" / "index.sqlite3").exists()


def test_unknown_setting_in_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "lienthong.toml"
    config.write_text('[dicom]\nae_titel = "TYPO"\n', encoding="utf-8")
    result = lienthong(tmp_path / "data", "--config", str(config), "ae", "list", check=False)
    assert result.returncode == USAGE_ERROR and "ae_titel" in result.stderr


def test_invalid_setting_value_is_refused(tmp_path: Path) -> None:
    result = lienthong(tmp_path / "data", "ae", "list",
                       env={"LIENTHONG_DICOM__AE_TITLE": "TITLE_LONGER_THAN_16"}, check=False)
    assert result.returncode == USAGE_ERROR and "dicom.ae_title" in result.stderr
