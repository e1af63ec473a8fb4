"""QĐ 130 XML5 — clinical progress notes (CHI_TIET_DIEN_BIEN_BENH); fields per spec §4.5."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml5(episode: EpisodeRecord) -> etree._Element:
    """The XML5 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML5", episode.release), episode.rows("XML5"))
