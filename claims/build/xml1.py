"""QĐ 130 XML1 — summary (TONG_HOP), exactly one record; fields and order per spec §4.1."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml1(episode: EpisodeRecord) -> etree._Element:
    """The XML1 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML1", episode.release), episode.rows("XML1"))
