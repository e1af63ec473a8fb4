"""Imaging orders (HIS → PACS), performed procedure steps (MPPS) and commitment requests.

An order carries what the modality worklist hands to the modality (PS3.4 K.6.1: patient,
requested procedure, scheduled procedure step) and what links the images to the insurance
claim (QĐ 130: MA_THE_BHYT, MA_LK, MA_DICH_VU). When images arrive with the order's accession
number, the order records its study (``study_fk``; one order per study).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lienthong.db import AETitle, Base, DicomUID, Timestamp, utcnow

PersonName = String(324)


class OrderStatus(enum.StrEnum):
    """Where an imaging order stands; the worklist lists SCHEDULED and IN_PROGRESS ones."""

    SCHEDULED = "scheduled"
    """Created by the HIS, waiting for the modality."""
    IN_PROGRESS = "in_progress"
    """The modality started the procedure (MPPS IN PROGRESS)."""
    IMAGES_RECEIVED = "images_received"
    """Images with the order's accession number are in the archive."""
    COMPLETED = "completed"
    """The modality finished the procedure (MPPS COMPLETED)."""
    DISCONTINUED = "discontinued"
    """The modality stopped the procedure (MPPS DISCONTINUED)."""
    CANCELLED = "cancelled"
    """Cancelled by the HIS."""


OPEN_STATUSES = (OrderStatus.SCHEDULED, OrderStatus.IN_PROGRESS)


class ImagingOrder(Base):
    __tablename__ = "imaging_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    accession_number: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.SCHEDULED, index=True)
    # Patient (PS3.4 K.6.1.2.2 Patient Identification / Demographic)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    patient_name: Mapped[str] = mapped_column(PersonName)
    patient_name_folded: Mapped[str] = mapped_column(PersonName, index=True)
    patient_birth_date: Mapped[str] = mapped_column(String(8), default="")
    patient_sex: Mapped[str] = mapped_column(String(16), default="")
    patient_address: Mapped[str] = mapped_column(String(200), default="")
    # Claim links (QĐ 130 Bảng 1 MA_THE_BHYT, MA_LK; Bảng 3 MA_DICH_VU)
    ma_the_bhyt: Mapped[str] = mapped_column(String(15), default="")
    ma_lk: Mapped[str] = mapped_column(String(100), default="", index=True)
    ma_dich_vu: Mapped[str] = mapped_column(String(50), default="")
    # Requested procedure and scheduled procedure step (PS3.4 K.6.1.2.3 / K.6.1.2.4)
    study_instance_uid: Mapped[DicomUID] = mapped_column(unique=True)
    requested_procedure_id: Mapped[str] = mapped_column(String(16))
    requested_procedure_description: Mapped[str] = mapped_column(String(64), default="")
    scheduled_procedure_step_id: Mapped[str] = mapped_column(String(16))
    modality: Mapped[str] = mapped_column(String(16), index=True)
    scheduled_station_ae_title: Mapped[AETitle] = mapped_column(index=True)
    scheduled_date: Mapped[str] = mapped_column(String(8), index=True)  # DA, hospital time
    scheduled_time: Mapped[str] = mapped_column(String(16))  # TM, hospital time
    referring_physician_name: Mapped[str] = mapped_column(PersonName, default="")
    # Filled by the archive
    study_fk: Mapped[int | None] = mapped_column(ForeignKey("study.id"), unique=True)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class PerformedProcedureStep(Base):
    """A Modality Performed Procedure Step instance (PS3.4 F.7), created by N-CREATE."""

    __tablename__ = "performed_procedure_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[DicomUID] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(16))  # IN PROGRESS / COMPLETED / DISCONTINUED
    order_fk: Mapped[int | None] = mapped_column(ForeignKey("imaging_order.id"), index=True)
    calling_ae_title: Mapped[AETitle] = mapped_column(default="")
    dataset_json: Mapped[str] = mapped_column(Text)  # DICOM JSON of the attributes as set
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class CommitmentRequest(Base):
    """A storage commitment request (PS3.4 J.3.2) waiting for, or done with, its report."""

    __tablename__ = "commitment_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_uid: Mapped[DicomUID] = mapped_column(unique=True)
    calling_ae_title: Mapped[AETitle]
    references_json: Mapped[str] = mapped_column(Text)  # [[sop class, sop instance], ...]
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    reported_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The reporter sending it ("host:pid:nonce") and since when: a claim older than the lease
    # (settings commitment.claim_lease) belongs to a reporter that died and is taken over.
    claimed_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


Index("ix_imaging_order_station_date", ImagingOrder.scheduled_station_ae_title,
      ImagingOrder.scheduled_date)
