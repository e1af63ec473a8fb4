"""The generic table document builder behind build/xml1.py … xml15.py (spec §2.4, §2.5).

Every element of the table is emitted in the spec's order, empty when the record has no value
(§2.5 "empty values"). Text is normalised to NFC (claims/spec.py UNICODE_FORM).
"""

from __future__ import annotations

import functools
import re
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


def _build_with_elements(tbl: Table, rows: list[Row]) -> etree._Element:
    root = etree.Element(tbl.root)
    if tbl.row_element is None:
        _fill(root, tbl, rows[0])
        return root
    assert tbl.list_element is not None
    listing = etree.SubElement(root, tbl.list_element)
    for row in rows:
        _fill(etree.SubElement(listing, tbl.row_element), tbl, row)
    return root


# Text as lxml writes it: &, <, > as entities, and CR as a character reference (the parser
# would otherwise turn it into LF).
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_blank_text=False)


_SPECIAL = re.compile("[&<>\r]")


@functools.cache
def _tags(tbl: Table) -> tuple[tuple[str, str, str, str], ...]:
    """(field, start tag, end tag, empty element) of each field of ``tbl``, in order."""
    return tuple((n, f"<{n}>", f"</{n}>", f"<{n}/>") for n in tbl.field_names)


def _row_markup(tags: tuple[tuple[str, str, str, str], ...], row: Row, out: list[str]) -> None:
    for name, start, end, empty in tags:
        value = row.get(name, "")
        if value:
            text = unicodedata.normalize(spec.UNICODE_FORM, value)
            if _SPECIAL.search(text):
                text = text.translate(_ESCAPES)
            out.append(start + text + end)
        else:
            out.append(empty)


def build_table(tbl: Table, rows: list[Row]) -> etree._Element:
    """The root element of table ``tbl`` holding ``rows`` (single-record tables: rows[0]).

    The tree is the same as one element per field made with SubElement, but it is made by
    parsing the escaped markup of the whole table at once: a claim holds ~1,000 fields and
    one C parse is several times faster than 1,000 Python-level element creations. A value
    the parser refuses (e.g. a control character) falls back to SubElement, so it fails
    exactly as before (lxml's ValueError).
    """
    if tbl.row_element is None and len(rows) != 1:
        raise ValueError(f"{tbl.name} holds exactly one record, got {len(rows)}")
    out = [f"<{tbl.root}>"]
    tags = _tags(tbl)
    if tbl.row_element is None:
        _row_markup(tags, rows[0], out)
    else:
        out.append(f"<{tbl.list_element}>")
        for row in rows:
            out.append(f"<{tbl.row_element}>")
            _row_markup(tags, row, out)
            out.append(f"</{tbl.row_element}>")
        out.append(f"</{tbl.list_element}>")
    out.append(f"</{tbl.root}>")
    try:
        return etree.fromstring("".join(out).encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, UnicodeEncodeError):
        return _build_with_elements(tbl, rows)


def serialise(root: etree._Element) -> bytes:
    """UTF-8 bytes of a complete document: XML declaration + root (spec §2.3 header)."""
    return spec.XML_DECLARATION + etree.tostring(root, encoding="utf-8")
