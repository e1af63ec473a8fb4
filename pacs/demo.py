"""Demo studies: synthetic but well-formed CT, MR and CR studies for Vietnamese patients.

They go through the same ingest path as a C-STORE. The images are numeric phantoms (ellipses
with CT numbers in HU), not patient data, so the demo can ship anywhere.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from pacs.archive import Archive
from pacs.index.ingest import Outcome

UID_ROOT = "1.2.826.0.1.3680043.10.1446."  # demo objects only


@dataclass(frozen=True)
class DemoPatient:
    patient_id: str
    name: str  # DICOM PN, UTF-8
    birth_date: str
    sex: str


PATIENTS = (
    DemoPatient("BN0001", "Nguyễn^Văn An", "19650312", "M"),
    DemoPatient("BN0002", "Lương^Thị Đào", "19781105", "F"),
    DemoPatient("BN0003", "Trần^Quốc Bảo", "19900621", "M"),
)


def phantom(size: int, z: float) -> np.ndarray:
    """A head-like phantom slice in HU: skull ring, brain, ventricles that change with z."""
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    image = np.full((size, size), -1000, dtype=np.int16)
    scale = np.sqrt(max(0.05, 1 - z * z))
    outer = (x / (0.85 * scale)) ** 2 + (y / (0.95 * scale)) ** 2 <= 1
    inner = (x / (0.78 * scale)) ** 2 + (y / (0.88 * scale)) ** 2 <= 1
    image[outer] = 1000
    image[inner] = 35
    for cx in (-0.18, 0.18):
        ventricle = ((x - cx) / (0.1 * scale)) ** 2 + ((y + 0.1) / (0.25 * scale)) ** 2 <= 1
        image[ventricle & inner] = 5
    return image


def _base(patient: DemoPatient, study_uid: str, when: dt.datetime, accession: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = when.strftime("%Y%m%d")
    ds.StudyTime = when.strftime("%H%M%S")
    ds.AccessionNumber = accession
    ds.StudyID = accession[-4:]
    ds.ReferringPhysicianName = "Phạm^Minh Châu"
    ds.InstitutionName = "Bệnh viện Đa khoa tỉnh"
    return ds


def _image(ds: Dataset, pixels: np.ndarray, signed: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16 if signed else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = pixels.astype(np.int16 if signed else np.uint16).tobytes()


def _series(
    base: Dataset,
    sop_class: str,
    modality: str,
    description: str,
    number: int,
    count: int,
    fill: Callable[[Dataset, int], None],
) -> Iterator[Dataset]:
    series_uid = generate_uid(UID_ROOT, [base.StudyInstanceUID, str(number), modality])
    for i in range(count):
        ds = Dataset()
        ds.update(base)
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid(UID_ROOT, [series_uid, str(i)])
        ds.Modality = modality
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = number
        ds.SeriesDescription = description
        ds.InstanceNumber = i + 1
        fill(ds, i)
        yield ds


def _ct(base: Dataset, slices: int = 40, size: int = 256) -> Iterator[Dataset]:
    def fill(ds: Dataset, i: int) -> None:
        z = -0.9 + 1.8 * i / max(1, slices - 1)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.BodyPartExamined = "HEAD"
        ds.SliceThickness = 5
        ds.PixelSpacing = [0.9, 0.9]
        ds.ImagePositionPatient = [-115.2, -115.2, round(5.0 * i, 2)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.WindowCenter, ds.WindowWidth = 40, 80
        _image(ds, phantom(size, z), signed=True)

    return _series(base, CTImageStorage, "CT", "Sọ não không thuốc", 1, slices, fill)


def _mr(base: Dataset, slices: int = 20, size: int = 192) -> Iterator[Dataset]:
    def fill(ds: Dataset, i: int) -> None:
        z = -0.8 + 1.6 * i / max(1, slices - 1)
        img = np.clip(phantom(size, z) + 1000, 0, 2000) // 2
        ds.PixelSpacing = [1.2, 1.2]
        ds.SliceThickness = 4
        ds.ImagePositionPatient = [-115.0, -115.0, round(4.0 * i, 2)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.WindowCenter, ds.WindowWidth = 500, 1000
        _image(ds, img, signed=False)

    return _series(base, MRImageStorage, "MR", "T1 axial", 1, slices, fill)


def _cr(base: Dataset, size: int = 1024) -> Iterator[Dataset]:
    def fill(ds: Dataset, _i: int) -> None:
        y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
        lungs = ((np.abs(x) - 0.4) / 0.3) ** 2 + (y / 0.7) ** 2 <= 1
        img = np.where(lungs, 600, 2600).astype(np.uint16)
        ds.BodyPartExamined = "CHEST"
        ds.ViewPosition = "PA"
        ds.PixelSpacing = [0.35, 0.35]
        ds.WindowCenter, ds.WindowWidth = 1600, 3200
        _image(ds, img, signed=False)

    return _series(base, ComputedRadiographyImageStorage, "CR", "Ngực thẳng", 1, 1, fill)


def demo_datasets(today: dt.date) -> Iterator[Dataset]:
    plans: tuple[tuple[DemoPatient, Callable[[Dataset], Iterator[Dataset]], int], ...] = (
        (PATIENTS[0], _ct, 9),
        (PATIENTS[1], _mr, 10),
        (PATIENTS[1], _cr, 11),
        (PATIENTS[2], _cr, 14),
    )
    for n, (patient, make, hour) in enumerate(plans, start=1):
        when = dt.datetime.combine(today, dt.time(hour, 15))
        study_uid = generate_uid(UID_ROOT, [patient.patient_id, today.isoformat(), str(n)])
        base = _base(patient, study_uid, when, f"DEMO{today:%y%m%d}{n:02d}")
        yield from make(base)


def encode(ds: Dataset) -> bytes:
    """The dataset encoded as Explicit VR Little Endian, without file meta."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    raw = buffer.getvalue()
    # Skip preamble, "DICM" and the meta group, whose length (0002,0000) is its first element.
    meta_length = struct.unpack_from("<I", raw, 132 + 8)[0]
    return raw[132 + 12 + meta_length :]


def load_demo(archive: Archive, today: dt.date, progress: Callable[[int], None]) -> int:
    """Ingest the demo studies; returns how many instances were newly stored."""
    stored = 0
    for ds in demo_datasets(today):
        outcome = archive.ingest(
            encode(ds),
            transfer_syntax_uid=ExplicitVRLittleEndian,
            sop_class_uid=ds.SOPClassUID,
            sop_instance_uid=ds.SOPInstanceUID,
            calling_ae_title="DEMO",
        )
        stored += outcome is Outcome.STORED
        progress(1)
    return stored
