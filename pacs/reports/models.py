"""Report and ReportTemplate tables.

A study has a chain of report versions (1, 2, ...). Only the newest may be a draft; every older
version is signed and never changes again. An amendment is a new version that names the one it
supersedes. The conclusion, the reader and the signing time are columns of their own because
the insurance claim export (QĐ 130 XML4) copies them field by field.
"""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lienthong.db import Base, DicomUID, Timestamp, utcnow


class ReportStatus(enum.StrEnum):
    DRAFT = "draft"
    """Being written; saved automatically, editable by radiologists."""
    SIGNED = "signed"
    """Signed by the reading radiologist; immutable."""


class Report(Base):
    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("study_instance_uid", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_instance_uid: Mapped[DicomUID] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.DRAFT.value)
    findings: Mapped[str] = mapped_column(Text, default="")
    conclusion: Mapped[str] = mapped_column(Text, default="")
    template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The radiologist who last wrote the draft, then the one who signed it.
    reader_username: Mapped[str] = mapped_column(String(64), default="")
    reader_name: Mapped[str] = mapped_column(String(200), default="")
    # The signer's practising-certificate code as it was at signing (claims XML4 MA_BS_DOC_KQ).
    reader_practice_code: Mapped[str] = mapped_column(String(30), default="", server_default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    signed_at: Mapped[Timestamp | None] = mapped_column(nullable=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    amendment_reason: Mapped[str] = mapped_column(Text, default="")
    # The Encapsulated PDF instance stored back into the archive once the report is signed.
    archived_sop_instance_uid: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ReportTemplate(Base):
    """A starting text for a modality and body part (empty body part = any), kept by admins."""

    __tablename__ = "report_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    modality: Mapped[str] = mapped_column(String(16), index=True)
    body_part: Mapped[str] = mapped_column(String(16), default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    conclusion: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)
