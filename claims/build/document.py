"""The generic table document builder behind build/xml1.py … xml15.py (spec §2.4, §2.5).

Every element of the table is emitted in the spec's order, empty when the record has no value
(§2.5 "empty values"). Text is normalised to NFC (claims/spec.py UNICODE_FORM).
"""

from __future__ import annotations

import unicodedata

from lxml import etree

from claims import spec
from claims.records.episode import Row
from claims.tablespec import Table


def _fill(parent: etree._Element, tbl: Table, row: Row) -> None:
    for name in tbl.field_names:
        child = etree.SubElement(parent, name)
        value = row.get(name, "")
        if value:
            child.text = unicodedata.normalize(spec.UNICODE_FORM, value)


def build_table(tbl: Table, rows: list[Row]) -> etree._Element:
    """The root element of table ``tbl`` holding ``rows`` (single-record tables: rows[0])."""
    root = etree.Element(tbl.root)
    if tbl.row_element is None:
        if len(rows) != 1:
            raise ValueError(f"{tbl.name} holds exactly one record, got {len(rows)}")
        _fill(root, tbl, rows[0])
        return root
    assert tbl.list_element is not None
    listing = etree.SubElement(root, tbl.list_element)
    for row in rows:
        _fill(etree.SubElement(listing, tbl.row_element), tbl, row)
    return root


def serialise(root: etree._Element) -> bytes:
    """UTF-8 bytes of a complete document: XML declaration + root (spec §2.3 header)."""
    return spec.XML_DECLARATION + etree.tostring(root, encoding="utf-8")
