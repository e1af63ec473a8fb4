"""Stored clinic records: episodes (MA_LK), their table rows, and the exported file versions.

Rows keep the exact QĐ 130 texts of their fields as a JSON object (codes as strings, money as
decimal text, dates with their minutes); the episode row carries the typed columns used to
select and account (dates, totals as Numeric). One ``ClaimExport`` row per built version of an
episode: a new version only when the episode's record digest changes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, DateTime, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lienthong.db import Base, Timestamp, utcnow

Money = Numeric(15, 2)


class ClaimEpisode(Base):
    """One treatment episode (QĐ 130 XML1 MA_LK) as imported from the HIS."""

    __tablename__ = "claim_episode"

    id: Mapped[int] = mapped_column(primary_key=True)
    ma_lk: Mapped[str] = mapped_column(String(100), unique=True)
    ma_cskcb: Mapped[str] = mapped_column(String(5))
    ma_loai_kcb: Mapped[str] = mapped_column(String(2))
    ma_doituong_kcb: Mapped[str] = mapped_column(String(5))
    ngay_vao: Mapped[str] = mapped_column(String(12))
    ngay_ra: Mapped[str] = mapped_column(String(12))
    closed_on: Mapped[dt.date] = mapped_column(Date, index=True)
    t_tongchi_bv: Mapped[Decimal] = mapped_column(Money)
    t_bhtt: Mapped[Decimal] = mapped_column(Money)
    record_digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # json / csv / xml / api
    imported_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    rows: Mapped[list[ClaimRow]] = relationship(
        back_populates="episode", cascade="all, delete-orphan", order_by="ClaimRow.id"
    )
    exports: Mapped[list[ClaimExport]] = relationship(
        back_populates="episode", order_by="ClaimExport.version"
    )


class ClaimRow(Base):
    """One row of one table (XML1…XML15) of an episode."""

    __tablename__ = "claim_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_fk: Mapped[int] = mapped_column(
        ForeignKey("claim_episode.id", ondelete="CASCADE"), index=True
    )
    table_name: Mapped[str] = mapped_column(String(5))
    row_index: Mapped[int] = mapped_column(Integer)
    fields_json: Mapped[str] = mapped_column(Text)
    # Imaging order link (XML3): not a QĐ 130 field; matches pacs Study.accession_number.
    accession_number: Mapped[str] = mapped_column(String(16), default="", index=True)

    episode: Mapped[ClaimEpisode] = relationship(back_populates="rows")

    __table_args__ = (UniqueConstraint("episode_fk", "table_name", "row_index"),)


class ClaimExport(Base):
    """One built version of an episode's claim file (GIAMDINHHS), and where it stands."""

    __tablename__ = "claim_export"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_fk: Mapped[int] = mapped_column(ForeignKey("claim_episode.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    record_digest: Mapped[str] = mapped_column(String(64))
    built_on: Mapped[dt.date] = mapped_column(Date)  # NGAYLAP; fixed for the version
    export_day: Mapped[dt.date] = mapped_column(Date, index=True)
    file_name: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64), default="")
    # built → written → submitted → accepted / rejected
    status: Mapped[str] = mapped_column(String(16), default="built")
    portal_transaction: Mapped[str] = mapped_column(String(100), default="")
    portal_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    written_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    episode: Mapped[ClaimEpisode] = relationship(back_populates="exports")

    __table_args__ = (UniqueConstraint("episode_fk", "version"),)
