"""Reports on SQLite and a real PostgreSQL: drafts, signing, immutability, amendments,
templates, the claims view, the PDF, and the signed report stored back into the archive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import select

from lienthong.settings import ReportsSettings, load_settings
from pacs.archive import Archive, open_archive
from pacs.demo import encode
from pacs.index.models import Instance, Series, Study
from pacs.reports.archive import ENCAPSULATED_PDF_STORAGE, archive_signed_report
from pacs.reports.errors import (
    ReportImmutable,
    ReportIncomplete,
    ReportNotFound,
    ReportStateConflict,
    StudyNotFound,
    TemplateNotFound,
)
from pacs.reports.pdf import FontUnavailable, printable_report, render_pdf
from pacs.reports.service import (
    Reader,
    amend_report,
    current_report,
    delete_template,
    latest_signed_report,
    list_templates,
    report_history,
    report_statuses,
    save_draft,
    save_template,
    sign_report,
    unarchived_signed_reports,
)

T0 = dt.datetime(2026, 12, 3, 1, 30, tzinfo=dt.UTC)
NGUYEN = Reader("bs.nguyen", "BS. Nguyễn Văn Hùng")
TRAN = Reader("bs.tran", "BS. Trần Thị Lan")


@pytest.fixture()
def archive(database_url: str, tmp_path: Path, shared_dicom: Path) -> Iterator[Archive]:
    """An archive holding the real 28-slice head CT (ingested like a C-STORE)."""
    settings = load_settings(
        data_dir=tmp_path / "data", database_url=database_url, storage={"min_free_bytes": 0}
    )
    archive = open_archive(settings)
    for path in sorted((shared_dicom / "series" / "ct_head_ge_tilt").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        archive.ingest(encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
                       sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
                       calling_ae_title="TESTSCU")
    yield archive
    archive.close()


@pytest.fixture()
def study_uid(archive: Archive) -> str:
    with archive.sessions() as session:
        return session.scalars(select(Study.study_instance_uid)).one()


def test_draft_is_saved_then_updated_in_place(archive: Archive, study_uid: str) -> None:
    with archive.sessions.begin() as s:
        first = save_draft(s, study_uid, findings="Không thấy tổn thương.", conclusion="",
                           reader=NGUYEN, now=T0)
        assert (first.version, first.status) == (1, "draft")
    with archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="Nhu mô não bình thường.", conclusion="Bình thường",
                   reader=NGUYEN, now=T0 + dt.timedelta(minutes=1))
    with archive.sessions() as s:
        history = report_history(s, study_uid)
        assert len(history) == 1
        assert history[0].findings == "Nhu mô não bình thường."
        assert history[0].conclusion == "Bình thường"
        assert latest_signed_report(s, study_uid) is None
        assert report_statuses(s, [study_uid, "1.2.3"]) == {study_uid: "draft"}


def test_sign_records_reader_and_time_for_the_claims(archive: Archive, study_uid: str) -> None:
    with archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="Xuất huyết nhỏ thùy trán phải.",
                   conclusion="Xuất huyết não thùy trán phải", reader=NGUYEN, now=T0)
    with archive.sessions.begin() as s:
        signed = sign_report(s, study_uid, reader=TRAN, now=T0 + dt.timedelta(minutes=5))
        assert signed.status == "signed"
    with archive.sessions() as s:
        claim_view = latest_signed_report(s, study_uid)
        assert claim_view is not None
        assert claim_view.conclusion == "Xuất huyết não thùy trán phải"
        assert claim_view.findings == "Xuất huyết nhỏ thùy trán phải."
        assert claim_view.reader_username == "bs.tran"
        assert claim_view.reader_name == TRAN.display_name
        assert claim_view.signed_at == T0 + dt.timedelta(minutes=5)
        assert report_statuses(s, [study_uid]) == {study_uid: "signed"}


def test_signed_report_is_immutable(archive: Archive, study_uid: str) -> None:
    with archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="a", conclusion="b", reader=NGUYEN, now=T0)
        sign_report(s, study_uid, reader=NGUYEN, now=T0)
    with pytest.raises(ReportImmutable), archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="changed", conclusion="changed", reader=NGUYEN, now=T0)
    with pytest.raises(ReportImmutable), archive.sessions.begin() as s:
        sign_report(s, study_uid, reader=TRAN, now=T0)
    with archive.sessions() as s:
        report = current_report(s, study_uid)
        assert report is not None
        assert (report.findings, report.reader_username) == ("a", "bs.nguyen")


def test_bad_sign_requests_are_refused(archive: Archive, study_uid: str) -> None:
    with pytest.raises(ReportNotFound), archive.sessions.begin() as s:
        sign_report(s, study_uid, reader=NGUYEN, now=T0)
    with archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="only findings", conclusion="  ", reader=NGUYEN, now=T0)
    with pytest.raises(ReportIncomplete), archive.sessions.begin() as s:
        sign_report(s, study_uid, reader=NGUYEN, now=T0)
    with pytest.raises(StudyNotFound), archive.sessions.begin() as s:
        save_draft(s, "1.2.826.0.1.999", findings="x", conclusion="y", reader=NGUYEN, now=T0)
    with pytest.raises(ReportIncomplete), archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="x" * 20_001, conclusion="", reader=NGUYEN, now=T0)
    with pytest.raises(TemplateNotFound), archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="", conclusion="", reader=NGUYEN, now=T0,
                   template_id=4242)


def test_amendment_makes_a_new_version_and_keeps_the_old(archive: Archive, study_uid: str) -> None:
    with archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="v1 findings", conclusion="v1", reader=NGUYEN, now=T0)
        sign_report(s, study_uid, reader=NGUYEN, now=T0)
    with pytest.raises(ReportIncomplete), archive.sessions.begin() as s:
        amend_report(s, study_uid, reader=TRAN, reason=" ", now=T0)
    with archive.sessions.begin() as s:
        amendment = amend_report(s, study_uid, reader=TRAN, reason="Bổ sung kết luận",
                                 now=T0 + dt.timedelta(hours=1))
        assert (amendment.version, amendment.status, amendment.conclusion) == (2, "draft", "v1")
    with pytest.raises(ReportStateConflict), archive.sessions.begin() as s:
        amend_report(s, study_uid, reader=TRAN, reason="again", now=T0)
    with archive.sessions() as s:
        # While the amendment is a draft, the claims still see the signed version 1.
        still = latest_signed_report(s, study_uid)
        assert still is not None and (still.version, still.conclusion) == (1, "v1")
    with archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="v2 findings", conclusion="v2", reader=TRAN,
                   now=T0 + dt.timedelta(hours=1))
        sign_report(s, study_uid, reader=TRAN, now=T0 + dt.timedelta(hours=2))
    with archive.sessions() as s:
        v2, v1 = report_history(s, study_uid)
        assert (v1.version, v1.status, v1.findings, v1.conclusion) == (1, "signed", "v1 findings",
                                                                       "v1")
        assert (v2.version, v2.supersedes_id, v2.amendment_reason) == (2, v1.id,
                                                                       "Bổ sung kết luận")
        latest = latest_signed_report(s, study_uid)
        assert latest is not None and (latest.version, latest.conclusion) == (2, "v2")


def test_templates_by_modality_and_body_part(archive: Archive) -> None:
    with archive.sessions.begin() as s:
        generic = save_template(s, name="CT chung", modality="ct", body_part="",
                                findings="Mô tả", conclusion="", editor="admin", now=T0)
        head = save_template(s, name="CT sọ não", modality="CT", body_part="head",
                             findings="Nhu mô não", conclusion="Bình thường", editor="admin",
                             now=T0)
        save_template(s, name="MR cột sống", modality="MR", body_part="SPINE", findings="",
                      conclusion="", editor="admin", now=T0)
        generic_id, head_id = generic.id, head.id
    with archive.sessions() as s:
        names = [t.name for t in list_templates(s, modality="CT", body_part="HEAD")]
        assert names == ["CT sọ não", "CT chung"]
        assert [t.name for t in list_templates(s, modality="CT", body_part="CHEST")] == ["CT chung"]
        assert len(list_templates(s)) == 3
    with archive.sessions.begin() as s:
        edited = save_template(s, template_id=head_id, name="CT sọ não không tiêm",
                               modality="CT", body_part="HEAD", findings="x", conclusion="y",
                               editor="admin2", now=T0)
        assert (edited.name, edited.updated_by) == ("CT sọ não không tiêm", "admin2")
        delete_template(s, generic_id)
    with pytest.raises(TemplateNotFound), archive.sessions.begin() as s:
        delete_template(s, generic_id)
    with pytest.raises(ReportIncomplete), archive.sessions.begin() as s:
        save_template(s, name=" ", modality="CT", body_part="", findings="", conclusion="",
                      editor="admin", now=T0)


def test_pdf_has_the_header_font_and_survives_markup(archive: Archive, study_uid: str) -> None:
    with archive.sessions.begin() as s:
        report = save_draft(s, study_uid, findings="<script>alert(1)</script> & <b",
                            conclusion="Kết luận: bình thường", reader=NGUYEN, now=T0)
        sign_report(s, study_uid, reader=NGUYEN, now=T0)
        study = s.scalars(select(Study)).one()
        pdf = render_pdf(printable_report(report, study), archive.settings.reports)
    assert pdf.startswith(b"%PDF-")
    assert b"DejaVuSans" in pdf  # the Vietnamese-capable font is embedded


def test_pdf_without_its_font_is_a_clear_error(archive: Archive, study_uid: str,
                                                tmp_path: Path) -> None:
    settings = ReportsSettings(font_path=tmp_path / "missing.ttf")
    with archive.sessions.begin() as s:
        report = save_draft(s, study_uid, findings="", conclusion="", reader=NGUYEN, now=T0)
        study = s.scalars(select(Study)).one()
        with pytest.raises(FontUnavailable):
            render_pdf(printable_report(report, study), settings)


def test_signed_report_goes_back_into_the_archive(archive: Archive, study_uid: str) -> None:
    with archive.sessions.begin() as s:
        save_draft(s, study_uid, findings="Nhu mô não bình thường.", conclusion="Bình thường",
                   reader=NGUYEN, now=T0)
        report_id = sign_report(s, study_uid, reader=NGUYEN, now=T0).id
    with archive.sessions() as s:
        assert [r.id for r in unarchived_signed_reports(s)] == [report_id]
    uid = archive_signed_report(archive, report_id)
    assert archive_signed_report(archive, report_id) == uid  # stored once
    with archive.sessions() as s:
        assert unarchived_signed_reports(s) == []
        instance = s.scalars(select(Instance).where(Instance.sop_instance_uid == uid)).one()
        series = s.get(Series, instance.series_fk)
        study = s.scalars(select(Study).where(Study.study_instance_uid == study_uid)).one()
        assert instance.sop_class_uid == ENCAPSULATED_PDF_STORAGE
        assert series is not None and series.modality == "DOC"
        assert series.study_fk == study.id
        assert study.number_of_instances == 29
        key = instance.file_key
    with archive.store.open(key) as handle:
        stored = pydicom.dcmread(handle)
    assert stored.EncapsulatedDocument.startswith(b"%PDF-")
    assert stored.PatientID == study.patient_id
    assert stored.StudyInstanceUID == study_uid
    assert stored.VerificationFlag == "VERIFIED"


def test_draft_cannot_be_archived(archive: Archive, study_uid: str) -> None:
    with archive.sessions.begin() as s:
        report_id = save_draft(s, study_uid, findings="", conclusion="", reader=NGUYEN,
                               now=T0).id
    with pytest.raises(ValueError, match="signed"):
        archive_signed_report(archive, report_id)


def test_cli_stores_signed_reports_missing_from_the_archive(
    tmp_path: Path, shared_dicom: Path
) -> None:
    from tests.support.server import lienthong

    data_dir = tmp_path / "data"
    settings = load_settings(data_dir=data_dir, storage={"min_free_bytes": 0})
    from lienthong.migrate import upgrade

    upgrade(settings.effective_database_url)
    archive = open_archive(settings)
    try:
        path = sorted((shared_dicom / "series" / "ct_head_ge_tilt").glob("*.dcm"))[0]
        ds = pydicom.dcmread(path)
        archive.ingest(encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
                       sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID)
        with archive.sessions.begin() as s:
            save_draft(s, ds.StudyInstanceUID, findings="f", conclusion="c", reader=NGUYEN,
                       now=T0)
            sign_report(s, ds.StudyInstanceUID, reader=NGUYEN, now=T0)
    finally:
        archive.close()
    result = lienthong(data_dir, "reports", "archive",
                       env={"LIENTHONG_STORAGE__MIN_FREE_BYTES": "0"})
    assert "1 of 1 signed report(s) stored" in result.stdout
    again = lienthong(data_dir, "reports", "archive",
                      env={"LIENTHONG_STORAGE__MIN_FREE_BYTES": "0"})
    assert "0 of 0" in again.stdout
    archive = open_archive(settings)
    try:
        with archive.sessions() as s:
            assert s.scalars(select(Instance).where(
                Instance.sop_class_uid == ENCAPSULATED_PDF_STORAGE)).one()
    finally:
        archive.close()
