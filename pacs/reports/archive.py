"""A signed report back into the archive as DICOM Encapsulated PDF (PS3.3 A.45.1).

The instance joins the imaging study (same Study Instance UID and patient attributes) in a
series of its own (Modality DOC), so other PACS and viewers that query the study see the report.
It enters through ``Archive.ingest`` — the same checks, durable write and index commit as a
C-STORE — and is encoded Explicit VR Little Endian.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lienthong.clock import hospital_time
from pacs.archive import Archive
from pacs.index.models import Study
from pacs.reports.models import Report, ReportStatus
from pacs.reports.pdf import printable_report, render_pdf
from pacs.reports.service import as_utc, get_study, mark_archived

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
# LOINC 18748-4 "Diagnostic imaging study" (the document title code of imaging reports).
REPORT_CONCEPT = ("18748-4", "LN", "Diagnostic imaging report")


def encapsulated_pdf(
    report: Report, study: Study, pdf: bytes, *, series_instance_uid: str, sop_instance_uid: str
) -> Dataset:
    """The Encapsulated PDF dataset of a signed report version (no file meta)."""
    if report.signed_at is None:
        raise ValueError("only a signed report goes into the archive")
    signed = hospital_time(as_utc(report.signed_at))
    ds = Dataset()
    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = sop_instance_uid
    # Patient (copied from the study so that the report matches its images)
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.patient_birth_date
    ds.PatientSex = study.patient_sex
    # General Study
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = study.study_date
    ds.StudyTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.StudyID = study.study_id
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StudyDescription = study.study_description
    # Encapsulated Document Series
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = 9000 + report.version
    ds.SeriesDescription = f"Report v{report.version}"
    # General Equipment / SC Equipment
    ds.Manufacturer = "Lienthong"
    ds.ConversionType = "WSD"
    # Encapsulated Document
    ds.InstanceNumber = report.version
    ds.ContentDate = signed.strftime("%Y%m%d")
    ds.ContentTime = signed.strftime("%H%M%S")
    ds.AcquisitionDateTime = signed.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Kết quả chẩn đoán hình ảnh"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = REPORT_CONCEPT
    ds.ConceptNameCodeSequence = [concept]
    ds.VerificationFlag = "VERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    return ds


def store_in_archive(archive: Archive, report: Report, study: Study, pdf: bytes) -> str:
    """Ingest the signed report as Encapsulated PDF; returns its SOP Instance UID.

    Raises what ``Archive.ingest`` raises (StorageUnavailable, IndexUnavailable, ...).
    """
    sop_instance_uid = generate_uid()
    ds = encapsulated_pdf(
        report, study, pdf, series_instance_uid=generate_uid(), sop_instance_uid=sop_instance_uid
    )
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    write_dataset(buffer, ds)
    archive.ingest(
        buffer.getvalue(),
        transfer_syntax_uid=ExplicitVRLittleEndian,
        sop_class_uid=ENCAPSULATED_PDF_STORAGE,
        sop_instance_uid=sop_instance_uid,
        calling_ae_title=archive.settings.dicom.ae_title,
    )
    return sop_instance_uid


def archive_signed_report(archive: Archive, report_id: int) -> str:
    """Render, ingest and record the archive copy of one signed version; returns the UID.

    Runs its own short transactions (the ingest commits through the group committer), so call
    it after the signing transaction has committed. Idempotent: an archived version is not
    stored twice.
    """
    with archive.sessions() as session:
        report = session.get(Report, report_id)
        if report is None or report.status != ReportStatus.SIGNED:
            raise ValueError("only a signed report goes into the archive")
        if report.archived_sop_instance_uid:
            return report.archived_sop_instance_uid
        study = get_study(session, report.study_instance_uid)
        pdf = render_pdf(printable_report(report, study), archive.settings.reports)
        uid = store_in_archive(archive, report, study, pdf)
    with archive.sessions.begin() as session:
        mark_archived(session, report_id, uid)
    return uid
