"""Synthetic CT-like instances for fault and load tests, and the digest we compare them by.

The instances are small numeric phantoms (not patient data) written as Explicit VR Little Endian
Part 10 files in the form DCMTK's storescu sends unchanged: even-length values, no group length
elements, no trailing padding. So the digest of what storescu sent equals the digest of the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import _read_file_meta_info, read_file_meta_info, read_preamble
from pydicom.filewriter import dcmwrite
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

UID_ROOT = "1.2.826.0.1.3680043.10.1446.9."  # synthetic test objects only


@dataclass(frozen=True)
class SyntheticStudy:
    """Where a generated study's files went, with its UIDs."""

    patient_id: str
    study_instance_uid: str
    series_instance_uids: tuple[str, ...]
    files: tuple[Path, ...]


def ct_dataset(
    *,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    series_number: int,
    instance_number: int,
    size: int = 128,
    seed: int = 0,
) -> Dataset:
    """One CT Image Storage instance with `size` x `size` signed 16-bit pixels."""
    rng = np.random.default_rng(seed * 100_003 + instance_number)
    pixels = rng.integers(-1000, 2000, size=(size, size), dtype=np.int16)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid(UID_ROOT)
    ds.StudyDate = "20260101"
    ds.StudyTime = "080000"
    ds.AccessionNumber = patient_id[-8:]
    ds.Modality = "CT"
    ds.ReferringPhysicianName = ""
    ds.PatientName = f"Thử^Nghiệm {patient_id}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19800101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [0, 0, instance_number * 2]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.PixelSpacing = [1, 1]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.PixelData = pixels.tobytes()
    return ds


def write_part10(ds: Dataset, path: Path) -> Path:
    """Write `ds` as an Explicit VR Little Endian Part 10 file."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def make_study(
    folder: Path,
    *,
    patient_id: str,
    series: int = 1,
    per_series: int = 10,
    size: int = 128,
    seed: int = 0,
) -> SyntheticStudy:
    """Generate one study (`series` x `per_series` instances) as files under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = generate_uid(UID_ROOT)
    series_uids = tuple(generate_uid(UID_ROOT) for _ in range(series))
    files: list[Path] = []
    for s, series_uid in enumerate(series_uids, start=1):
        for i in range(1, per_series + 1):
            ds = ct_dataset(
                patient_id=patient_id,
                study_uid=study_uid,
                series_uid=series_uid,
                series_number=s,
                instance_number=i,
                size=size,
                seed=seed + s,
            )
            files.append(write_part10(ds, folder / f"s{s:02d}i{i:04d}.dcm"))
    return SyntheticStudy(patient_id, study_uid, series_uids, tuple(files))


def dataset_offset(path: Path) -> int:
    """Byte offset where the dataset starts (after preamble, 'DICM' and the file meta)."""
    with path.open("rb") as fp:
        read_preamble(fp, force=False)
        _read_file_meta_info(fp)
        return fp.tell()


def dataset_digest(path: Path) -> str:
    """sha256 of the bytes after the file meta: what the index calls the instance's content."""
    data = path.read_bytes()
    return hashlib.sha256(data[dataset_offset(path) :]).hexdigest()


def sop_instance_uid(path: Path) -> str:
    return str(read_file_meta_info(path).MediaStorageSOPInstanceUID)


def phantom_ct_series(
    folder: Path,
    *,
    patient_id: str,
    study_uid: str,
    frame_of_reference_uid: str,
    study_date: str,
    series_number: int,
    slices: int,
    spacing: float,
    size: int = 128,
    accession: str = "",
) -> tuple[str, tuple[Path, ...]]:
    """An axial CT volume of known geometry (1 mm pixels, `spacing` mm between slices, z from
    `spacing` upwards): water (0 HU) filling the whole field with a bone sphere (1000 HU) of
    radius size/4 at its centre, so that every reformat has a predictable footprint. Returns the
    series UID and the files."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid(UID_ROOT)
    centre = np.array([size / 2, size / 2, slices * spacing / 2])
    yy, xx = np.mgrid[0:size, 0:size]
    files: list[Path] = []
    for i in range(1, slices + 1):
        z = i * spacing
        inside = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (z - centre[2]) ** 2
        pixels = np.where(inside <= (size / 4) ** 2, 1000, 0).astype(np.int16)
        ds = ct_dataset(patient_id=patient_id, study_uid=study_uid, series_uid=series_uid,
                        series_number=series_number, instance_number=i, size=size)
        ds.StudyDate = study_date
        ds.AccessionNumber = accession
        ds.SeriesDescription = f"Phantom {spacing:g} mm"
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.ImagePositionPatient = [0, 0, z]
        ds.SliceLocation = z
        ds.SliceThickness = spacing
        ds.WindowCenter = 0
        ds.WindowWidth = 400
        ds.PixelData = pixels.tobytes()
        files.append(write_part10(ds, folder / f"s{series_number:02d}i{i:04d}.dcm"))
    return series_uid, tuple(files)
