"""QĐ 130 XML2 — drug lines (CHI_TIET_THUOC); fields and order per spec §4.2."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml2(episode: EpisodeRecord) -> etree._Element:
    """The XML2 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML2", episode.release), episode.rows("XML2"))
