"""QĐ 130 XML9 — birth certificates (one row per child); fields and order per spec §4.6."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml9(episode: EpisodeRecord) -> etree._Element:
    """The XML9 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML9", episode.release), episode.rows("XML9"))
