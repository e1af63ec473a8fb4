"""QĐ 130 XML10 — pregnancy-rest certificate (single record); fields and order per spec §4.6."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml10(episode: EpisodeRecord) -> etree._Element:
    """The XML10 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML10", episode.release), episode.rows("XML10"))
