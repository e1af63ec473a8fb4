"""QĐ 130 XML13 — referral letter (one record; 4750 or 3176 layout); fields per spec §4.6."""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord
from claims.tables import table


def build_xml13(episode: EpisodeRecord) -> etree._Element:
    """The XML13 document root for episode (pure: no DB, no clock)."""
    return build_table(table("XML13", episode.release), episode.rows("XML13"))
