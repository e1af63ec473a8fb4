"""The GIAMDINHHS envelope (spec §2.3): base64 table documents in FILEHOSO, CHUKYDONVI last.

XML1 is always included; another table only when it has rows; order XML1…XML11, XML13–XML15.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

from lxml import etree

from claims import spec
from claims.build.document import serialise
from claims.build.xml1 import build_xml1
from claims.build.xml2 import build_xml2
from claims.build.xml3 import build_xml3
from claims.build.xml4 import build_xml4
from claims.build.xml5 import build_xml5
from claims.build.xml6 import build_xml6
from claims.build.xml7 import build_xml7
from claims.build.xml8 import build_xml8
from claims.build.xml9 import build_xml9
from claims.build.xml10 import build_xml10
from claims.build.xml11 import build_xml11
from claims.build.xml13 import build_xml13
from claims.build.xml14 import build_xml14
from claims.build.xml15 import build_xml15
from claims.records.episode import EpisodeRecord

BUILDERS: dict[str, Callable[[EpisodeRecord], etree._Element]] = {
    "XML1": build_xml1, "XML2": build_xml2, "XML3": build_xml3, "XML4": build_xml4,
    "XML5": build_xml5, "XML6": build_xml6, "XML7": build_xml7, "XML8": build_xml8,
    "XML9": build_xml9, "XML10": build_xml10, "XML11": build_xml11, "XML13": build_xml13,
    "XML14": build_xml14, "XML15": build_xml15,
}


def build_documents(episode: EpisodeRecord) -> list[tuple[str, etree._Element]]:
    """(LOAIHOSO, root) of every table document the episode sends, in envelope order."""
    return [(name, build(episode)) for name, build in BUILDERS.items()
            if name == "XML1" or episode.rows(name)]


def build_envelope(
    facility_code: str, created_on: dt.date, documents: list[tuple[str, bytes]]
) -> etree._Element:
    """GIAMDINHHS for one episode (spec.EPISODES_PER_ENVELOPE) from serialised table documents."""
    root = etree.Element("GIAMDINHHS", nsmap=spec.ENVELOPE_NSMAP)
    info = etree.SubElement(root, "THONGTINDONVI")
    etree.SubElement(info, "MACSKCB").text = facility_code
    record = etree.SubElement(root, "THONGTINHOSO")
    etree.SubElement(record, "NGAYLAP").text = created_on.strftime(spec.NGAYLAP_FORMAT)
    etree.SubElement(record, "SOLUONGHOSO").text = "1"
    listing = etree.SubElement(record, "DANHSACHHOSO")
    hoso = etree.SubElement(listing, "HOSO")
    for name, data in documents:
        item = etree.SubElement(hoso, "FILEHOSO")
        etree.SubElement(item, "LOAIHOSO").text = name
        etree.SubElement(item, "NOIDUNGFILE").text = base64.b64encode(data).decode("ascii")
    etree.SubElement(root, "CHUKYDONVI")
    return root


def build_claim_file(
    episode: EpisodeRecord, facility_code: str, created_on: dt.date
) -> tuple[etree._Element, list[tuple[str, etree._Element]]]:
    """The unsigned envelope and the table roots it carries (for XSD validation)."""
    docs = build_documents(episode)
    envelope = build_envelope(facility_code, created_on, [(n, serialise(r)) for n, r in docs])
    return envelope, docs
