"""Response identifiers encoded straight from index values (PS3.5 7.1), without pydicom.

A C-FIND response holds a dozen short text or integer values. Building a pydicom Dataset and
writing it costs most of a response's time; the bytes are simple to produce directly. Only the
plain cases are handled here — text and integer values in ASCII or UTF-8 — and ``encode``
returns None for anything else (sequences, binary VRs, other character sets, values of an
unexpected type), in which case the caller encodes through pydicom. The bytes are those pydicom
writes (tests/pacs/test_pending.py compares them).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from pacs.scp.identifiers import CHARSET_TAG, UTF8, Element

# Explicit VR elements with a 4-byte length after 2 reserved bytes (PS3.5 Table 7.1-1).
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT",
                       "UV"})
_BINARY_INTS = {"US": "<H", "SS": "<h", "UL": "<L", "SL": "<l"}
# VRs whose value is character data (PS3.5 6.2), written as the text itself.
_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "LO", "LT", "PN", "SH", "ST",
                         "TM", "UC", "UI", "UR", "UT"})


def encode(elements: Iterable[Element], *, implicit: bool) -> bytes | None:
    """The little-endian encoding of ``elements``, or None when pydicom must do it."""
    ordered = sorted(elements, key=itemgetter(0))
    codec = "ascii"
    for tag, _vr, value in ordered:
        if tag == CHARSET_TAG:
            if value == UTF8:
                codec = "utf-8"
            elif value and not isinstance(value, str):
                return None  # several character sets (ISO 2022 code extensions)
    out = bytearray()
    for tag, vr, value in ordered:
        raw = _value(vr, value, codec)
        if raw is None:
            return None
        if len(raw) % 2:
            raw += b"\x00" if vr == "UI" else b" "
        group, number = tag >> 16, tag & 0xFFFF
        if implicit:
            out += struct.pack("<HHL", group, number, len(raw))
        elif vr in _LONG_VRS:
            out += struct.pack("<HH2sHL", group, number, vr.encode("ascii"), 0, len(raw))
        elif len(raw) <= 0xFFFF:
            out += struct.pack("<HH2sH", group, number, vr.encode("ascii"), len(raw))
        else:
            return None
        out += raw
    return bytes(out)


def _value(vr: str, value: Any, codec: str) -> bytes | None:
    if value is None or value == "":
        return b"" if vr != "SQ" else None
    if vr in _BINARY_INTS:
        items = value.split("\\") if isinstance(value, str) else [value]
        if not all(isinstance(i, int | str) for i in items):
            return None
        try:
            return b"".join(struct.pack(_BINARY_INTS[vr], int(i)) for i in items)
        except (ValueError, struct.error):
            return None
    if vr == "IS":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None
        try:
            return str(int(value)).encode("ascii")
        except ValueError:
            return None
    if vr in _STRING_VRS and isinstance(value, str):
        try:
            return value.encode(codec)
        except UnicodeEncodeError:
            return None
    return None
