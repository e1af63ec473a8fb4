"""CT + X-ray episode whose XML3 imaging rows come from studies ingested into the archive."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from pydicom.uid import ExplicitVRLittleEndian

from claims import synthetic
from claims.codes import load_code_lists
from claims.imaging import fill_imaging, signed_report_for
from claims.records.store import load_episodes, save_episode, to_record
from claims.validate.rules import check_episode
from lienthong.migrate import upgrade
from lienthong.settings import Settings
from pacs.archive import open_archive
from pacs.demo import demo_datasets, encode
from pacs.reports.service import Reader, amend_report, save_draft, sign_report

DAY = dt.date(2026, 11, 30)
MACHINES = {"CT01": "CL.1.79001.SN-CT-0042", "XQ01": "XQ.1.79001.SN-XQ-0007"}
TECHNOLOGISTS = {"Trần^Thị Kỹ": "009999/HCM-CCHN", "Lê^Văn Quang": "008888/HCM-CCHN"}


READER = Reader("bs.lan", "BS. Nguyễn Thị Lan", "001234/HCM-CCHN")
SIGNED_AT_UTC = dt.datetime(2026, 11, 30, 3, 5, tzinfo=dt.UTC)  # 10:05 in Hồ Chí Minh City


@pytest.fixture()
def hcmc_clock(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The server's local zone set to the facility's (UTC+7, no daylight saving)."""
    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_ct_and_xray_lines_filled_from_ingested_studies_and_signed_report(
    settings: Settings, hcmc_clock: None
) -> None:
    upgrade(settings.effective_database_url)
    datasets = list(demo_datasets(DAY))
    ct = list(itertools.islice((d for d in datasets if d.Modality == "CT"), 3))
    cr = [next(d for d in datasets if d.Modality == "CR")]
    plan = ((ct, "ACC-CT-1", "CT01", "Trần^Thị Kỹ"), (cr, "ACC-XQ-1", "XQ01", "Lê^Văn Quang"))
    archive = open_archive(settings)
    try:
        for series, accession, station, operator in plan:
            for ds in series:
                ds.AccessionNumber, ds.StationName, ds.OperatorsName = accession, station, operator
                archive.ingest(encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
                               sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
                               calling_ae_title="MODALITY")
        episode = synthetic.episode(4, DAY, lines=12)  # CT + X-ray lines
        imaging = [r for r in episode.rows("XML3") if r["MA_NHOM"] == "2"]
        assert len(imaging) == 2
        for row in imaging:
            for f in ("NGAY_TH_YL", "MA_MAY", "NGUOI_THUC_HIEN"):
                row.pop(f, None)
        index = {id(r): i for i, r in enumerate(episode.rows("XML3"))}
        episode.accession_numbers = {index[id(imaging[0])]: "ACC-CT-1",
                                     index[id(imaging[1])]: "ACC-XQ-1"}
        with archive.sessions.begin() as session:
            stored_id = save_episode(session, episode, "api").id
            # The CT is reported and signed, then an amendment is started (still a draft);
            # the X-ray has no report.
            uid = ct[0].StudyInstanceUID
            save_draft(session, uid, findings="Nhu mô não không thấy tổn thương khu trú.",
                       conclusion="CT sọ não bình thường.", reader=READER, now=SIGNED_AT_UTC)
            sign_report(session, uid, reader=READER, now=SIGNED_AT_UTC)
            amend_report(session, uid, reader=READER, reason="bổ sung",
                         now=SIGNED_AT_UTC + dt.timedelta(hours=1))
        with archive.sessions() as session:
            record = to_record(load_episodes(session, [stored_id])[0])
            matched = fill_imaging(session, record, MACHINES, TECHNOLOGISTS)
            reports = [signed_report_for(session, uid) for uid in matched]
    finally:
        archive.close()
    assert matched == [ct[0].StudyInstanceUID, cr[0].StudyInstanceUID]
    rows = [r for r in record.rows("XML3") if r["MA_NHOM"] == "2"]
    for row, (series, _acc, station, operator) in zip(rows, plan, strict=True):
        first = series[0]
        expected = dt.datetime.strptime(first.StudyDate + first.StudyTime[:4], "%Y%m%d%H%M")
        if "AcquisitionDateTime" in first:
            expected = dt.datetime.strptime(str(first.AcquisitionDateTime)[:12], "%Y%m%d%H%M")
        assert row["NGAY_TH_YL"] == expected.strftime("%Y%m%d%H%M")
        assert row["MA_MAY"] == MACHINES[station]
        assert row["NGUOI_THUC_HIEN"] == TECHNOLOGISTS[operator]
    ct_report, xray_report = reports
    assert xray_report is None
    assert ct_report is not None and ct_report.reader_codes == ("001234/HCM-CCHN",)
    assert ct_report.signed_at == dt.datetime(2026, 11, 30, 10, 5)  # UTC+7, naive local
    ct_line, xray_line = rows
    results = {r["MA_DICH_VU"]: r for r in record.rows("XML4")}
    ct_result = results[ct_line["MA_DICH_VU"]]
    assert ct_result["MO_TA"] == "Nhu mô não không thấy tổn thương khu trú."
    assert ct_result["KET_LUAN"] == "CT sọ não bình thường."
    assert ct_result["NGAY_KQ"] == ct_line["NGAY_KQ"] == "202611301005"
    assert ct_result["MA_BS_DOC_KQ"] == "001234/HCM-CCHN"
    # Without a signed report the X-ray's result row is exactly what the HIS sent.
    sent = {r["MA_DICH_VU"]: r for r in episode.rows("XML4")}
    assert results[xray_line["MA_DICH_VU"]] == sent[xray_line["MA_DICH_VU"]]


def test_reader_without_practice_code_leaves_ma_bs_doc_kq_empty_and_the_check_refuses(
    settings: Settings
) -> None:
    upgrade(settings.effective_database_url)
    ds = next(d for d in demo_datasets(DAY) if d.Modality == "CT")
    ds.AccessionNumber = "ACC-CT-2"
    archive = open_archive(settings)
    try:
        archive.ingest(encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
                       sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID)
        episode = synthetic.episode(5, DAY, lines=12)
        ct_index = next(i for i, r in enumerate(episode.rows("XML3"))
                        if r["MA_NHOM"] == "2")
        episode.accession_numbers = {ct_index: "ACC-CT-2"}
        no_code = Reader("bs.moi", "BS. Mới", "")
        with archive.sessions.begin() as session:
            save_draft(session, ds.StudyInstanceUID, findings="...", conclusion="Bình thường.",
                       reader=no_code, now=SIGNED_AT_UTC)
            sign_report(session, ds.StudyInstanceUID, reader=no_code, now=SIGNED_AT_UTC)
        with archive.sessions() as session:
            fill_imaging(session, episode, MACHINES, TECHNOLOGISTS)
    finally:
        archive.close()
    service = episode.rows("XML3")[ct_index]["MA_DICH_VU"]
    result = next(r for r in episode.rows("XML4") if r["MA_DICH_VU"] == service)
    assert result["MA_BS_DOC_KQ"] == "" and result["KET_LUAN"] == "Bình thường."
    found = check_episode(episode, load_code_lists(), ("claim",))
    assert any(v.rule == "X16-RESULTS" and v.field == "MA_BS_DOC_KQ" for v in found)
