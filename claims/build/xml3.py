"""QĐ 130 XML3 — technical services and supplies (CHI_TIET_DVKT); fields and order per spec §4.3."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml3(episode: EpisodeRecord) -> etree._Element:
    """The XML3 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML3", episode.release), episode.rows("XML3"))
