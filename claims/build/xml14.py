"""QĐ 130 XML14 — re-examination appointment (single record); fields and order per spec §4.6."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml14(episode: EpisodeRecord) -> etree._Element:
    """The XML14 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML14", episode.release), episode.rows("XML14"))
