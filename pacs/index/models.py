"""The DICOM index: Patient / Study / Series / Instance, plus quarantined duplicates.

Each level carries the attributes that C-FIND (PS3.4 C.6.1.1 / C.6.2.1 required and common
optional keys) and QIDO-RS (PS3.18 10.6.3.3) match and return, so queries never open files.
Person names are stored decoded (Unicode, per Specific Character Set) with a second, folded
column (upper case, Vietnamese diacritics removed) for fuzzy matching.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lienthong.db import AETitle, Base, DicomUID, Timestamp, utcnow

PersonName = String(324)  # PN: 5 components x 64 chars x 3 groups, decoded
ShortString = String(64)  # LO / SH / CS values


class Patient(Base):
    """PS3.4 C.6.1.1.2 Patient level."""

    __tablename__ = "patient"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Identity: issuer + PatientID, or a per-study key when PatientID is empty (never merge
    # anonymous patients).
    patient_key: Mapped[str] = mapped_column(String(200), unique=True)
    patient_id: Mapped[str] = mapped_column(ShortString, index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(ShortString, default="")
    patient_name: Mapped[str] = mapped_column(PersonName, default="")
    patient_name_folded: Mapped[str] = mapped_column(PersonName, default="", index=True)
    birth_date: Mapped[str] = mapped_column(String(8), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    studies: Mapped[list[Study]] = relationship(back_populates="patient")


class Study(Base):
    """PS3.4 C.6.2.1.2 Study level (Study Root), with the counts QIDO-RS returns."""

    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_fk: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    study_instance_uid: Mapped[DicomUID] = mapped_column(unique=True)
    study_date: Mapped[str] = mapped_column(String(8), default="", index=True)
    study_time: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(16), default="", index=True)
    study_id: Mapped[str] = mapped_column(String(16), default="")
    study_description: Mapped[str] = mapped_column(ShortString, default="")
    referring_physician_name: Mapped[str] = mapped_column(PersonName, default="")
    # The study's own copy of the patient attributes as first received (PS3.4 C.6.2: Study
    # Root returns them at study level; they may differ from the patient row, see ingest).
    patient_name: Mapped[str] = mapped_column(PersonName, default="")
    patient_name_folded: Mapped[str] = mapped_column(PersonName, default="", index=True)
    patient_id: Mapped[str] = mapped_column(ShortString, default="", index=True)
    patient_birth_date: Mapped[str] = mapped_column(String(8), default="")
    patient_sex: Mapped[str] = mapped_column(String(16), default="")
    specific_character_set: Mapped[str] = mapped_column(ShortString, default="")
    modalities_in_study: Mapped[str] = mapped_column(ShortString, default="")  # "CT\\SR"
    number_of_series: Mapped[int] = mapped_column(Integer, default=0)
    number_of_instances: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="studies")
    series: Mapped[list[Series]] = relationship(back_populates="study")


class Series(Base):
    """PS3.4 C.6.2.1.3 Series level."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_fk: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    series_instance_uid: Mapped[DicomUID] = mapped_column(unique=True)
    modality: Mapped[str] = mapped_column(String(16), default="", index=True)
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str] = mapped_column(ShortString, default="")
    series_date: Mapped[str] = mapped_column(String(8), default="")
    series_time: Mapped[str] = mapped_column(String(16), default="")
    body_part_examined: Mapped[str] = mapped_column(String(16), default="")
    station_name: Mapped[str] = mapped_column(String(16), default="")
    performed_procedure_step_start_date: Mapped[str] = mapped_column(String(8), default="")
    performed_procedure_step_start_time: Mapped[str] = mapped_column(String(16), default="")
    number_of_instances: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="series")
    instances: Mapped[list[Instance]] = relationship(back_populates="series")


class Instance(Base):
    """PS3.4 C.6.2.1.4 Composite Object Instance level, plus where and how it is stored."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_fk: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sop_instance_uid: Mapped[DicomUID] = mapped_column(unique=True)
    sop_class_uid: Mapped[DicomUID] = mapped_column(index=True)
    instance_number: Mapped[int | None] = mapped_column(Integer)
    transfer_syntax_uid: Mapped[DicomUID]
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    number_of_frames: Mapped[int | None] = mapped_column(Integer)
    content_date: Mapped[str] = mapped_column(String(8), default="")
    content_time: Mapped[str] = mapped_column(String(16), default="")
    acquisition_datetime: Mapped[str] = mapped_column(String(26), default="")
    # Storage: our own key names the file; never a value from the dataset.
    file_key: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    calling_ae_title: Mapped[AETitle] = mapped_column(default="")
    received_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    # DICOM JSON (PS3.18 F.2) of the instance without bulk data, computed at ingest so that
    # series/study metadata is served from the index alone.
    metadata_json: Mapped[str] = mapped_column(Text)

    series: Mapped[Series] = relationship(back_populates="instances")


class QuarantinedInstance(Base):
    """A re-sent SOP Instance UID whose content differs from the copy we keep."""

    __tablename__ = "quarantined_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[DicomUID] = mapped_column(index=True)
    file_key: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    calling_ae_title: Mapped[AETitle] = mapped_column(default="")
    received_at: Mapped[Timestamp] = mapped_column(default=utcnow)


Index("ix_study_date_time", Study.study_date, Study.study_time)
