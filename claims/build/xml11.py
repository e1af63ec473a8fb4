"""QĐ 130 XML11 — sick-leave certificate (single record); fields and order per spec §4.6."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml11(episode: EpisodeRecord) -> etree._Element:
    """The XML11 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML11", episode.release), episode.rows("XML11"))
