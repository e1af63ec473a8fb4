"""Synthetic index content for the query benchmark: the same studies as rows (bulk insert into
Lienthong's index) and as small DICOM instances (uploaded to Orthanc).

Deterministic (seeded), so both servers hold the same patients, names, dates and accession
numbers. Names are Vietnamese (family, middle, given), stored decoded as Lienthong stores them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from sqlalchemy import Engine, insert

from pacs.index.attributes import fold_name
from pacs.index.models import Instance, Patient, Series, Study

ROOT = "1.2.826.0.1.3680043.10.1446.77."  # benchmark objects only
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Lương", "Đinh", "Trương", "Mai")
MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Ngọc", "Xuân", "Hồng")
GIVEN = ("An", "Bình", "Châu", "Dũng", "Đào", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa",
         "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Ngân", "Nhung",
         "Oanh", "Phong", "Phúc", "Quân", "Quỳnh", "Sơn", "Tâm", "Thảo", "Thắng", "Trang",
         "Trung", "Tuấn", "Uyên", "Việt", "Vinh", "Xuân", "Yến", "Thủy")
MODALITIES = ("CT", "MR", "CR", "DX", "US")
FIRST_DAY = dt.date(2020, 1, 1)
DAYS = 2400


@dataclass(frozen=True)
class StudySpec:
    index: int
    patient_index: int
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_uid: str
    study_date: str
    study_time: str
    accession: str
    modality: str


def studies(count: int, seed: int = 20261203) -> Iterator[StudySpec]:
    """`count` studies over `count // 2` patients (two studies each on average)."""
    rng = random.Random(seed)
    patients = max(1, count // 2)
    names = [
        f"{rng.choice(FAMILY)}^{rng.choice(MIDDLE)} {rng.choice(GIVEN)}" for _ in range(patients)
    ]
    births = [f"{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
              for _ in range(patients)]
    for i in range(count):
        p = rng.randrange(patients)
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        yield StudySpec(
            index=i,
            patient_index=p,
            patient_id=f"BN{p:07d}",
            patient_name=names[p],
            birth_date=births[p],
            sex="F" if "Thị" in names[p] else "M",
            study_uid=f"{ROOT}1.{i}",
            study_date=day.strftime("%Y%m%d"),
            study_time=f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}00",
            accession=f"ACC{i:09d}",
            modality=rng.choice(MODALITIES),
        )


def load_rows(engine: Engine, specs: list[StudySpec], series_per_study: int,
              instances_per_series: int, batch: int = 20000) -> None:
    """Bulk-insert Patient/Study/Series/Instance rows (no files) in batches."""
    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    seen: dict[int, int] = {}
    patient_rows, study_rows, series_rows, instance_rows = [], [], [], []
    for spec in specs:
        if spec.patient_index not in seen:
            seen[spec.patient_index] = len(seen) + 1
            patient_rows.append({
                "id": seen[spec.patient_index], "patient_key": f"\\{spec.patient_id}",
                "patient_id": spec.patient_id, "issuer_of_patient_id": "",
                "patient_name": spec.patient_name,
                "patient_name_folded": fold_name(spec.patient_name),
                "birth_date": spec.birth_date, "sex": spec.sex, "created_at": now})
        study_id = spec.index + 1
        per_study = series_per_study * instances_per_series
        study_rows.append({
            "id": study_id, "patient_fk": seen[spec.patient_index],
            "study_instance_uid": spec.study_uid, "study_date": spec.study_date,
            "study_time": spec.study_time, "accession_number": spec.accession,
            "study_id": str(spec.index % 10000), "study_description": "Benchmark",
            "referring_physician_name": "", "patient_name": spec.patient_name,
            "patient_name_folded": fold_name(spec.patient_name), "patient_id": spec.patient_id,
            "patient_birth_date": spec.birth_date, "patient_sex": spec.sex,
            "specific_character_set": "ISO_IR 192", "modalities_in_study": spec.modality,
            "number_of_series": series_per_study, "number_of_instances": per_study,
            "size_bytes": per_study * 1024, "created_at": now, "updated_at": now})
        for s in range(series_per_study):
            series_id = spec.index * series_per_study + s + 1
            series_rows.append({
                "id": series_id, "study_fk": study_id,
                "series_instance_uid": f"{spec.study_uid}.{s + 1}", "modality": spec.modality,
                "series_number": s + 1, "series_description": "", "series_date": spec.study_date,
                "series_time": spec.study_time, "body_part_examined": "", "station_name": "",
                "performed_procedure_step_start_date": "",
                "performed_procedure_step_start_time": "",
                "number_of_instances": instances_per_series, "created_at": now})
            for n in range(instances_per_series):
                instance_id = (series_id - 1) * instances_per_series + n + 1
                instance_rows.append({
                    "id": instance_id, "series_fk": series_id,
                    "sop_instance_uid": f"{spec.study_uid}.{s + 1}.{n + 1}",
                    "sop_class_uid": CTImageStorage, "instance_number": n + 1,
                    "transfer_syntax_uid": ExplicitVRLittleEndian, "rows": 512, "columns": 512,
                    "number_of_frames": None, "content_date": spec.study_date,
                    "content_time": spec.study_time, "acquisition_datetime": "",
                    "file_key": f"bench{instance_id:012d}", "size_bytes": 1024,
                    "sha256": "0" * 64, "calling_ae_title": "BENCH", "received_at": now,
                    "metadata_json": "{}"})
        if len(instance_rows) >= batch:
            _flush(engine, patient_rows, study_rows, series_rows, instance_rows)
            patient_rows, study_rows, series_rows, instance_rows = [], [], [], []
    _flush(engine, patient_rows, study_rows, series_rows, instance_rows)


def _flush(engine: Engine, *rows: list[dict[str, object]]) -> None:
    with engine.begin() as conn:
        for table, batch in zip((Patient, Study, Series, Instance), rows, strict=True):
            if batch:
                conn.execute(insert(table), batch)


def dataset(spec: StudySpec, series: int, number: int) -> Dataset:
    """A small CT instance (no pixel data) of the study, for Orthanc's REST upload."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"{spec.study_uid}.{series}.{number}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = spec.birth_date
    ds.PatientSex = spec.sex
    ds.StudyInstanceUID = spec.study_uid
    ds.StudyDate, ds.StudyTime = spec.study_date, spec.study_time
    ds.AccessionNumber = spec.accession
    ds.StudyDescription = "Benchmark"
    ds.SeriesInstanceUID = f"{spec.study_uid}.{series}"
    ds.Modality = spec.modality
    ds.SeriesNumber, ds.InstanceNumber = series, number
    return ds
