"""CT + X-ray episode whose XML3 imaging rows come from studies ingested into the archive."""

from __future__ import annotations

import datetime as dt
import itertools

from pydicom.uid import ExplicitVRLittleEndian

from claims import synthetic
from claims.imaging import fill_imaging, signed_report_for
from claims.records.store import load_episodes, save_episode, to_record
from lienthong.migrate import upgrade
from lienthong.settings import Settings
from pacs.archive import open_archive
from pacs.demo import demo_datasets, encode

DAY = dt.date(2026, 11, 30)
MACHINES = {"CT01": "CL.1.79001.SN-CT-0042", "XQ01": "XQ.1.79001.SN-XQ-0007"}
TECHNOLOGISTS = {"Trần^Thị Kỹ": "009999/HCM-CCHN", "Lê^Văn Quang": "008888/HCM-CCHN"}


def test_ct_and_xray_lines_filled_from_ingested_studies(settings: Settings) -> None:
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
    # No reporting module yet: no signed report, and XML4 keeps exactly what the HIS sent.
    assert reports == [None, None]
    assert record.rows("XML4") == episode.rows("XML4")
