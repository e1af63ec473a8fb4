"""QĐ 130 XML8 — medical-record summary (single record); fields and order per spec §4.6."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml8(episode: EpisodeRecord) -> etree._Element:
    """The XML8 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML8", episode.release), episode.rows("XML8"))
