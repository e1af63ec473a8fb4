"""QĐ 130 XML15 — TB treatment rows; fields and order per spec §4.6."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml15(episode: EpisodeRecord) -> etree._Element:
    """The XML15 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML15", episode.release), episode.rows("XML15"))
