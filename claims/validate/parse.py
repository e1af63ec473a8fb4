"""Read QĐ 130 files back: envelope → table documents → EpisodeRecord (spec §2.3, §2.4).

Used by ``claims validate`` (any vendor's file), the XML importer and the round-trip tests.
Every document goes through validate/safexml.parse_xml.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import pybase64
from lxml import etree

from claims.errors import UnsafeXml
from claims.records.episode import EpisodeRecord, Row
from claims.tables import root_to_table
from claims.tablespec import Table
from claims.validate.safexml import parse_xml


@dataclass
class TableDocument:
    name: str  # LOAIHOSO
    data: bytes
    root: etree._Element | None = None
    problem: str = ""
    # Set once the document passed its table's XSD, which fixes every row to exactly these
    # fields in this order: rows_of then reads the texts without the element names.
    shape: Table | None = None


@dataclass
class ClaimFile:
    """A parsed GIAMDINHHS envelope: its header and the table documents of each HOSO."""

    root: etree._Element
    facility_code: str
    created_on: str
    declared_count: str
    episodes: list[list[TableDocument]] = field(default_factory=list)
    # Every NOIDUNGFILE is a childless element holding base64 in canonical form, so the
    # envelope XSD's base64Binary check of it is already made (see canonical_base64).
    contents_canonical: bool = True


def _text(node: etree._Element | None) -> str:
    return (node.text or "") if node is not None else ""


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B16 = frozenset("AEIMQUYcgkosw048")  # a last character before "=" with its pad bits zero
_B04 = frozenset("AQgw")  # the same before "=="


def canonical_base64(text: str) -> bytes | None:
    """The ASCII bytes of ``text`` when it is non-empty base64 in the canonical lexical form
    of xs:base64Binary (XML Schema Part 2 §3.2.16: groups of four, no spaces, padding only at
    the end, pad bits zero); None otherwise.

    Such a text is valid for any XSD's base64Binary and base64.b64decode(validate=True) would
    accept it, so it is decoded directly and the envelope XSD need not check it again (one
    cheap scan of the ~35 kB of base64 instead of a regular expression and the XSD's own).
    """
    n = len(text)
    if n == 0 or n % 4:
        return None
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    if pad and text[n - pad - 1] not in (_B04 if pad == 2 else _B16):
        return None
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    # Deleting the alphabet must leave exactly the padding (already known to be at the end).
    return raw if raw.translate(None, _B64_ALPHABET) == b"=" * pad else None


def rows_of(root: etree._Element, shape: Table | None = None) -> list[Row]:
    """The rows of a table document: each row's child elements as name → text.

    ``shape``: the table whose XSD ``root`` passed (see TableDocument.shape).
    """
    if shape is not None:
        names = shape.field_names
        nodes = root.iterchildren(etree.Element)
        return [dict(zip(names, [c.text or "" for c in node.iterchildren(etree.Element)],
                         strict=True))
                for node in (next(nodes).iterchildren(etree.Element) if shape.multi_row
                             else (root,))]
    name = root_to_table(root.tag) if isinstance(root.tag, str) else None
    if name is None:
        raise UnsafeXml(f"unknown table root element {root.tag!r}")
    children = [c for c in root if isinstance(c.tag, str) and c.tag != "CHUKYDONVI"]
    if len(children) == 1 and len(children[0]) and children[0].tag.startswith("DSACH"):
        return [_row(r) for r in children[0].iterchildren(etree.Element)]
    return [_row(root)]


def _row(node: etree._Element) -> Row:
    # iterchildren(Element) skips comments and processing instructions in C.
    row = {c.tag: (c.text or "") for c in node.iterchildren(etree.Element)}
    row.pop("CHUKYDONVI", None)
    return row


def parse_claim_file(data: bytes) -> ClaimFile:
    """Parse an envelope and decode (but not yet validate) every NOIDUNGFILE."""
    root = parse_xml(data, what="GIAMDINHHS")
    if root.tag != "GIAMDINHHS":
        raise UnsafeXml(f"root element is {root.tag!r}, expected GIAMDINHHS")
    claim = ClaimFile(
        root,
        _text(root.find("THONGTINDONVI/MACSKCB")),
        _text(root.find("THONGTINHOSO/NGAYLAP")),
        _text(root.find("THONGTINHOSO/SOLUONGHOSO")),
    )
    for hoso in root.iterfind("THONGTINHOSO/DANHSACHHOSO/HOSO"):
        docs: list[TableDocument] = []
        for item in hoso.iterfind("FILEHOSO"):
            name = _text(item.find("LOAIHOSO")).strip()
            doc = TableDocument(name, b"")
            content = item.find("NOIDUNGFILE")
            text = _text(content)
            # Without children (comments, processing instructions) .text is the whole value
            # the XSD sees.
            raw = canonical_base64(text) if content is not None and len(content) == 0 else None
            claim.contents_canonical &= raw is not None
            try:
                # A canonical text has one decoding (pybase64's SIMD decoder gives the bytes
                # base64.b64decode would, ~20x faster); any other text takes b64decode for
                # its verdict and message.
                doc.data = (pybase64.b64decode(raw, validate=True) if raw is not None
                            else base64.b64decode(text, validate=True))
                doc.root = parse_xml(doc.data, what=name or "NOIDUNGFILE")
            except (binascii.Error, ValueError) as exc:
                doc.problem = f"NOIDUNGFILE is not base64: {exc}"
            except UnsafeXml as exc:
                doc.problem = str(exc)
            docs.append(doc)
        claim.episodes.append(docs)
    return claim


def episode_from_documents(docs: list[TableDocument]) -> EpisodeRecord:
    """The EpisodeRecord carried by one HOSO (documents that failed to parse are skipped)."""
    tables: dict[str, list[Row]] = {}
    for doc in docs:
        if doc.root is not None:
            tables[doc.name] = rows_of(doc.root, doc.shape)
    if "XML1" not in tables or not tables["XML1"]:
        raise UnsafeXml("the HOSO has no XML1 (TONG_HOP) document")
    # check_file sets a shape only on a document whose LOAIHOSO is not repeated.
    valid = frozenset(d.name for d in docs if d.shape is not None and d.root is not None)
    return EpisodeRecord(tables, schema_valid=valid)
