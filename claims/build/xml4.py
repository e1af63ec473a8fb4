"""QĐ 130 XML4 — paraclinical results (CHI_TIET_CLS); fields and order per spec §4.4."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml4(episode: EpisodeRecord) -> etree._Element:
    """The XML4 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML4", episode.release), episode.rows("XML4"))
