"""What the index keeps of a dataset: the matching keys per level and the DICOM JSON metadata."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

# Attributes whose values are bulk data in DICOM JSON (PS3.18 F.2.7): served by URI, not inline.
BULK_THRESHOLD = 1024


def fold_name(name: str) -> str:
    """Upper case without diacritics, for fuzzy matching: "Lương Thị Đào" -> "LUONG THI DAO"."""
    name = name.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _text(ds: Dataset, keyword: str, limit: int = 64) -> str:
    """A single-valued string attribute, '' when absent or empty; never raises."""
    value = ds.get(keyword)
    if value is None or value == "":
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class IndexAttributes:
    """Everything the index stores about one instance, extracted once at ingest."""

    # Patient
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: str
    patient_sex: str
    # Study
    study_instance_uid: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    referring_physician_name: str
    specific_character_set: str
    # Series
    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    series_date: str
    series_time: str
    body_part_examined: str
    station_name: str
    pps_start_date: str
    pps_start_time: str
    # Instance
    sop_class_uid: str
    sop_instance_uid: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    number_of_frames: int | None
    content_date: str
    content_time: str
    acquisition_datetime: str

    @property
    def patient_key(self) -> str:
        if self.patient_id:
            return f"{self.issuer_of_patient_id}\\{self.patient_id}"
        return f"study:{self.study_instance_uid}"


def extract_attributes(ds: Dataset) -> IndexAttributes:
    acquisition = _text(ds, "AcquisitionDateTime", 26) or (
        _text(ds, "AcquisitionDate", 8) + _text(ds, "AcquisitionTime", 16)
    )
    return IndexAttributes(
        patient_id=_text(ds, "PatientID"),
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID"),
        patient_name=_text(ds, "PatientName", 324),
        patient_birth_date=_text(ds, "PatientBirthDate", 8),
        patient_sex=_text(ds, "PatientSex", 16),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        study_date=_text(ds, "StudyDate", 8),
        study_time=_text(ds, "StudyTime", 16),
        accession_number=_text(ds, "AccessionNumber", 16),
        study_id=_text(ds, "StudyID", 16),
        study_description=_text(ds, "StudyDescription"),
        referring_physician_name=_text(ds, "ReferringPhysicianName", 324),
        specific_character_set=_text(ds, "SpecificCharacterSet"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        modality=_text(ds, "Modality", 16),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        series_date=_text(ds, "SeriesDate", 8),
        series_time=_text(ds, "SeriesTime", 16),
        body_part_examined=_text(ds, "BodyPartExamined", 16),
        station_name=_text(ds, "StationName", 16),
        pps_start_date=_text(ds, "PerformedProcedureStepStartDate", 8),
        pps_start_time=_text(ds, "PerformedProcedureStepStartTime", 16),
        sop_class_uid=_text(ds, "SOPClassUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        number_of_frames=_int(ds, "NumberOfFrames"),
        content_date=_text(ds, "ContentDate", 8),
        content_time=_text(ds, "ContentTime", 16),
        acquisition_datetime=acquisition,
    )


def _bulk_uri(element: DataElement) -> str:
    # Relative to the instance's WADO-RS URL; the gateway makes it absolute when serving.
    return f"bulkdata/{element.tag:08X}"


def dicom_json(ds: Dataset, *, leave_out_invalid: bool = False) -> str:
    """DICOM JSON (PS3.18 F.2) of the dataset, bulk data replaced by BulkDataURIs.

    Reads every value at every depth, so it raises what pydicom raises for a value it cannot
    convert (pydicom converts lazily). A value invalid for its VR (e.g. IS "1A") has no DICOM
    JSON form: with ``leave_out_invalid`` such elements are left out (pydicom logs which tag)
    while the file keeps them as received.
    """
    body: dict[str, Any] = ds.to_json_dict(
        bulk_data_threshold=BULK_THRESHOLD,
        bulk_data_element_handler=_bulk_uri,
        suppress_invalid_tags=leave_out_invalid,
    )
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
