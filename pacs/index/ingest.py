"""Ingest: the one path by which an instance enters the archive (C-STORE, STOW-RS, demo, recovery).

Two steps, so that many associations can share one index transaction (group commit):

1. :func:`prepare_instance` (any thread, no database): check the bytes strictly, parse them with
   pydicom, check them against the request, extract the index attributes and DICOM JSON, and
   write the Part 10 file durably under a new key.
2. :func:`index_instance` (inside the caller's transaction): apply the duplicate policy and
   insert or update Patient / Study / Series / Instance rows.

The caller answers Success only after the transaction that ran step 2 has committed.
"""

from __future__ import annotations

import enum
import hashlib
import io
import logging
import struct
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, DeflatedExplicitVRLittleEndian
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from lienthong.db import DriverStatement, utcnow
from pacs.encoding import check_structure, inflate
from pacs.errors import DatasetMismatch, UndecodableDataset
from pacs.index.attributes import IndexAttributes, dicom_json, extract_attributes, fold_name
from pacs.index.models import Instance, Patient, QuarantinedInstance, Series, Study
from pacs.orders.service import link_study_to_order
from pacs.storage.base import InstanceStore

log = logging.getLogger(__name__)

IMPLEMENTATION_CLASS_UID = PYDICOM_IMPLEMENTATION_UID  # pydicom's root, as pydicom writes it
IMPLEMENTATION_VERSION_NAME = "LIENTHONG_01"
_PREAMBLE = b"\x00" * 128 + b"DICM"


class Outcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # same SOP Instance UID, same content: one copy kept
    QUARANTINED = "quarantined"  # same SOP Instance UID, different content: first kept


@dataclass(frozen=True)
class PreparedInstance:
    """A validated instance whose file is already durable, waiting to be indexed."""

    attributes: IndexAttributes
    transfer_syntax_uid: str
    file_key: str
    size_bytes: int
    sha256: str  # of the dataset as received (file meta excluded): "same content" means this
    metadata_json: str
    calling_ae_title: str


def file_meta(sop_class_uid: str, sop_instance_uid: str, ts: str, source_ae: str) -> bytes:
    """The File Meta Information group (PS3.10 7.1) that we write in front of received bytes.

    Encoded here (Explicit VR Little Endian, PS3.5 7.1.2) rather than through pydicom, which
    took a quarter of the CPU time of preparing an instance; tests/pacs/test_store_scp.py
    compares the bytes with pydicom's ``write_file_meta_info``.
    """
    body = b"".join((
        struct.pack("<HH2sHL", 0x0002, 0x0001, b"OB", 0, 2) + b"\x00\x01",
        _meta_element(0x0002, "UI", sop_class_uid),
        _meta_element(0x0003, "UI", sop_instance_uid),
        _meta_element(0x0010, "UI", ts),
        _meta_element(0x0012, "UI", IMPLEMENTATION_CLASS_UID),
        _meta_element(0x0013, "SH", IMPLEMENTATION_VERSION_NAME),
        _meta_element(0x0016, "AE", source_ae) if source_ae else b"",
    ))
    return struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(body)) + body


def _meta_element(element: int, vr: str, text: str) -> bytes:
    value = text.strip(" \x00").encode("ascii", "replace")  # UIDs and AE titles are ASCII
    if len(value) % 2:
        value += b"\x00" if vr == "UI" else b" "
    return struct.pack("<HH2sH", 0x0002, element, vr.encode("ascii"), len(value)) + value


@dataclass(frozen=True)
class ParsedDataset:
    dataset: Dataset
    metadata_json: str  # DICOM JSON without bulk data (pacs.index.attributes.dicom_json)


def parse_dataset(encoded: bytes, transfer_syntax_uid: str) -> ParsedDataset:
    """Strictly check, then fully parse an encoded dataset (no file meta), with its DICOM JSON.

    pydicom converts values lazily, so an undecodable value raises only when read. Building
    the DICOM JSON reads every value at every depth; only when that fails is every element read
    once more on its own, to tell a value pydicom cannot decode (the dataset is refused) from
    one that decodes but has no JSON form (left out of the metadata, kept in the file).
    """
    check_structure(encoded, transfer_syntax_uid)
    ts = UID(transfer_syntax_uid)
    try:
        ds = _read_raw(encoded, ts)
    except UndecodableDataset:
        raise
    except Exception as exc:  # pydicom raises many types for bad input; all mean "undecodable"
        raise _undecodable(exc) from exc
    try:
        metadata = dicom_json(ds)
    except Exception:
        _read_every_value(ds)
        metadata = dicom_json(ds, leave_out_invalid=True)
    if len(ds) == 0:
        raise UndecodableDataset("dataset has no elements")
    _check_native_pixel_length(ds, ts)
    return ParsedDataset(ds, metadata)


def _read_every_value(ds: Dataset) -> None:
    try:
        for element in ds.iterall():
            _ = element.value
    except Exception as exc:
        raise _undecodable(exc) from exc


def _undecodable(exc: Exception) -> UndecodableDataset:
    return UndecodableDataset(f"dataset does not parse: {type(exc).__name__}: {exc}")


def _read_raw(encoded: bytes, ts: UID) -> Dataset:
    if ts == DeflatedExplicitVRLittleEndian:
        encoded = inflate(encoded)
    return read_dataset(io.BytesIO(encoded), ts.is_implicit_VR, ts.is_little_endian)


def _check_native_pixel_length(ds: Dataset, ts: UID) -> None:
    """Native Pixel Data shorter than Rows x Columns x ... cannot be displayed: refuse it."""
    if "PixelData" not in ds or ts.is_encapsulated:
        return
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    bits = int(ds.get("BitsAllocated") or 0)
    samples = int(ds.get("SamplesPerPixel") or 1)
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        frames = 1
    if not (rows and cols and bits):
        raise UndecodableDataset("Pixel Data without Rows, Columns or Bits Allocated")
    pixels = rows * cols * samples * max(frames, 1)
    expected = (pixels + 7) // 8 if bits == 1 else pixels * bits // 8
    actual = len(ds.PixelData)
    if actual < expected:
        raise UndecodableDataset(f"Pixel Data holds {actual} bytes, {expected} required")


def prepare_instance(
    store: InstanceStore,
    encoded: bytes,
    *,
    transfer_syntax_uid: str,
    sop_class_uid: str,
    sop_instance_uid: str,
    calling_ae_title: str = "",
) -> PreparedInstance:
    """Validate `encoded` against the request's UIDs and write its file; index nothing yet.

    Raises UndecodableDataset, DatasetMismatch or StorageUnavailable.
    """
    parsed = parse_dataset(encoded, transfer_syntax_uid)
    attributes = extract_attributes(parsed.dataset)
    if not attributes.sop_instance_uid:
        raise DatasetMismatch("SOP Instance UID is missing or empty")
    if attributes.sop_instance_uid != sop_instance_uid.strip():
        raise DatasetMismatch("SOP Instance UID differs from the request's")
    if attributes.sop_class_uid != sop_class_uid.strip():
        raise DatasetMismatch("SOP Class UID differs from the presentation context's")
    if not attributes.study_instance_uid or not attributes.series_instance_uid:
        raise DatasetMismatch("Study or Series Instance UID is missing or empty")
    meta = file_meta(sop_class_uid, sop_instance_uid, transfer_syntax_uid, calling_ae_title)
    # Not fsync'd here: the group committer syncs the whole batch's files before the index
    # commit, and nothing is acknowledged before that commit.
    ref = store.put([_PREAMBLE, meta, encoded], durable=False)
    return PreparedInstance(
        attributes=attributes,
        transfer_syntax_uid=transfer_syntax_uid,
        file_key=ref.key,
        size_bytes=ref.size,
        sha256=hashlib.sha256(encoded).hexdigest(),
        metadata_json=parsed.metadata_json,
        calling_ae_title=calling_ae_title,
    )


# Built once and run on the driver's cursor (lienthong.db.DriverStatement): every stored
# instance runs these, and SQLAlchemy's execution path would cost twice what SQLite does.
_INSTANCE_BY_UID = DriverStatement(select(Instance.id, Instance.sha256).where(
    Instance.sop_instance_uid == bindparam("b_uid")))
_SERIES_BY_UID = DriverStatement(
    select(Series.id, Series.study_fk, Study.patient_name)
    .join(Study, Series.study_fk == Study.id)
    .where(Series.series_instance_uid == bindparam("b_uid"))
)
_INSTANCE_COLUMNS = (
    "series_fk", "sop_instance_uid", "sop_class_uid", "instance_number", "transfer_syntax_uid",
    "rows", "columns", "number_of_frames", "content_date", "content_time",
    "acquisition_datetime", "file_key", "size_bytes", "sha256", "calling_ae_title",
    "received_at", "metadata_json",
)
_INSERT_INSTANCE = DriverStatement(insert(Instance), column_keys=_INSTANCE_COLUMNS)
# Counters are updated in SQL (n = n + 1) so concurrent writers on PostgreSQL never lose one.
_COUNT_SERIES_INSTANCE = DriverStatement(
    update(Series)
    .where(Series.id == bindparam("b_series"))
    .values(number_of_instances=Series.number_of_instances + 1)
)
_COUNT_STUDY_INSTANCE = DriverStatement(
    update(Study)
    .where(Study.id == bindparam("b_study"))
    .values(
        number_of_instances=Study.number_of_instances + 1,
        number_of_series=Study.number_of_series + bindparam("b_new_series"),
        size_bytes=Study.size_bytes + bindparam("b_size"),
        updated_at=bindparam("b_now"),
    )
)


def index_instance(session: Session, item: PreparedInstance) -> Outcome:
    """Insert the index rows for a prepared instance (caller commits). Never deletes files."""
    a = item.attributes
    # The common path runs its statements on the session's connection, past the ORM and
    # SQLAlchemy's execution machinery: ingest is CPU-bound (see DriverStatement).
    conn = session.connection()
    existing = _INSTANCE_BY_UID.execute(conn, {"b_uid": a.sop_instance_uid}).fetchone()
    if existing is not None:
        existing_id, existing_sha256 = existing
        if existing_sha256 == item.sha256:
            return Outcome.DUPLICATE
        session.add(
            QuarantinedInstance(
                sop_instance_uid=a.sop_instance_uid,
                file_key=item.file_key,
                sha256=item.sha256,
                size_bytes=item.size_bytes,
                reason="SOP Instance UID already stored with different content",
                calling_ae_title=item.calling_ae_title,
            )
        )
        log.warning(
            "quarantined a re-sent instance with different content (instance #%d, from %s)",
            existing_id,
            item.calling_ae_title or "?",
        )
        return Outcome.QUARANTINED

    # Fast path: most instances belong to a series that is already indexed.
    known = _SERIES_BY_UID.execute(conn, {"b_uid": a.series_instance_uid}).fetchone()
    if known is not None:
        series_id, study_id, study_patient_name = known
        new_series = False
        if study_patient_name != a.patient_name:
            _patient_for(session, a)  # logs the conflict; the study stays where it is
    else:
        patient = _patient_for(session, a)
        study = _study_for(session, a, patient)
        series, new_series = _series_for(session, a, study)
        series_id, study_id = series.id, study.id
    _INSERT_INSTANCE.execute(
        conn,
        dict(
            series_fk=series_id,
            sop_instance_uid=a.sop_instance_uid,
            sop_class_uid=a.sop_class_uid,
            instance_number=a.instance_number,
            transfer_syntax_uid=item.transfer_syntax_uid,
            rows=a.rows,
            columns=a.columns,
            number_of_frames=a.number_of_frames,
            content_date=a.content_date,
            content_time=a.content_time,
            acquisition_datetime=a.acquisition_datetime,
            file_key=item.file_key,
            size_bytes=item.size_bytes,
            sha256=item.sha256,
            calling_ae_title=item.calling_ae_title,
            received_at=utcnow(),
            metadata_json=item.metadata_json,
        ),
    )
    _COUNT_SERIES_INSTANCE.execute(conn, {"b_series": series_id})
    _COUNT_STUDY_INSTANCE.execute(conn, {"b_study": study_id, "b_new_series": int(new_series),
                                         "b_size": item.size_bytes, "b_now": utcnow()})
    if new_series and a.modality:
        _add_modality(session, study_id, a.modality)
    session.flush()
    return Outcome.STORED


def _patient_for(session: Session, a: IndexAttributes) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.patient_key == a.patient_key))
    if patient is None:
        patient = Patient(
            patient_key=a.patient_key,
            patient_id=a.patient_id,
            issuer_of_patient_id=a.issuer_of_patient_id,
            patient_name=a.patient_name,
            patient_name_folded=fold_name(a.patient_name),
            birth_date=a.patient_birth_date,
            sex=a.patient_sex,
        )
        session.add(patient)
        session.flush()
    elif patient.patient_name != a.patient_name:
        # Never merge silently: the patient row keeps its first name, the study keeps what it
        # was sent with, and the conflict is logged (without the names themselves).
        log.warning(
            "patient #%d: study %s arrived with a different patient name for the same "
            "Patient ID; kept both, not merged",
            patient.id,
            a.study_instance_uid,
        )
    return patient


def _study_for(session: Session, a: IndexAttributes, patient: Patient) -> Study:
    study = session.scalar(select(Study).where(Study.study_instance_uid == a.study_instance_uid))
    if study is None:
        study = Study(
            patient_fk=patient.id,
            study_instance_uid=a.study_instance_uid,
            study_date=a.study_date,
            study_time=a.study_time,
            accession_number=a.accession_number,
            study_id=a.study_id,
            study_description=a.study_description,
            referring_physician_name=a.referring_physician_name,
            patient_name=a.patient_name,
            patient_name_folded=fold_name(a.patient_name),
            patient_id=a.patient_id,
            patient_birth_date=a.patient_birth_date,
            patient_sex=a.patient_sex,
            specific_character_set=a.specific_character_set,
        )
        session.add(study)
        session.flush()
        link_study_to_order(session, study)  # a scheduled order with this accession number
    elif study.patient_fk != patient.id:
        log.warning(
            "study %s received an instance for another patient; kept on its first patient",
            a.study_instance_uid,
        )
    return study


def _series_for(session: Session, a: IndexAttributes, study: Study) -> tuple[Series, bool]:
    series = session.scalar(
        select(Series).where(Series.series_instance_uid == a.series_instance_uid)
    )
    if series is not None:
        return series, False
    series = Series(
        study_fk=study.id,
        series_instance_uid=a.series_instance_uid,
        modality=a.modality,
        series_number=a.series_number,
        series_description=a.series_description,
        series_date=a.series_date,
        series_time=a.series_time,
        body_part_examined=a.body_part_examined,
        station_name=a.station_name,
        performed_procedure_step_start_date=a.pps_start_date,
        performed_procedure_step_start_time=a.pps_start_time,
    )
    session.add(series)
    session.flush()
    return series, True


def _add_modality(session: Session, study_id: int, modality: str) -> None:
    current = session.scalar(
        select(Study.modalities_in_study).where(Study.id == study_id).with_for_update()
    )
    values = [m for m in (current or "").split("\\") if m]
    if modality not in values:
        values.append(modality)
        session.execute(
            update(Study)
            .where(Study.id == study_id)
            .values(modalities_in_study="\\".join(sorted(values)))
        )
