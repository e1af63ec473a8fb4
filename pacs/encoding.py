"""Strict structural check of an encoded dataset, before pydicom is trusted with it.

pydicom parses leniently: a file cut inside a sequence reads "successfully" as a partial dataset,
an element whose declared length runs past the end is silently shortened, and a missing sequence
delimiter yields an empty dataset (see the shared malformed corpus). An archive must not answer
Success to such bytes, so this module walks the element stream itself (PS3.5 7.1-7.5, A.4) and
raises :class:`UndecodableDataset` naming the first defect. It checks lengths and nesting only;
value semantics are left to pydicom.
"""

from __future__ import annotations

import struct
import zlib

from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from pacs.errors import UndecodableDataset

_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_VALID_VRS = _LONG_VRS | frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split()
)
MAX_DEPTH = 32  # nesting deeper than this is hostile, not clinical (reliability: deep nesting)
MAX_INFLATED = 2 * 1024**3  # a deflated dataset may not inflate beyond 2 GiB


class _Walker:
    def __init__(self, data: bytes, explicit: bool, little: bool) -> None:
        self.data = data
        self.explicit = explicit
        self.endian = "<" if little else ">"

    def fail(self, pos: int, what: str) -> UndecodableDataset:
        return UndecodableDataset(f"{what} at byte {pos}")

    def read_tag(self, pos: int, end: int) -> tuple[int, int]:
        if pos + 4 > end:
            raise self.fail(pos, "dataset ends inside an element tag")
        group, elem = struct.unpack_from(self.endian + "HH", self.data, pos)
        return (group << 16) | elem, pos + 4

    def read_u32(self, pos: int, end: int) -> tuple[int, int]:
        if pos + 4 > end:
            raise self.fail(pos, "dataset ends inside a length field")
        return struct.unpack_from(self.endian + "I", self.data, pos)[0], pos + 4

    def dataset(self, pos: int, end: int, depth: int, explicit: bool, in_item: bool) -> int:
        """Walk elements until `end` (or an Item Delimitation when `in_item`); return the end."""
        if depth > MAX_DEPTH:
            raise self.fail(pos, f"nesting deeper than {MAX_DEPTH} levels")
        last_tag = -1
        while pos < end:
            start = pos
            tag, pos = self.read_tag(pos, end)
            if tag == _ITEM_END:
                if not in_item:
                    raise self.fail(start, "item delimiter outside an item")
                _, pos = self.read_u32(pos, end)
                return pos
            if tag in (_ITEM, _SEQ_END):
                raise self.fail(start, "unexpected item or sequence delimiter")
            if tag <= last_tag:
                raise self.fail(start, f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) out of order")
            last_tag = tag
            vr = b""
            if explicit:
                if pos + 2 > end:
                    raise self.fail(pos, "dataset ends inside a VR")
                vr = self.data[pos : pos + 2]
                if vr not in _VALID_VRS:
                    raise self.fail(pos, f"invalid VR {vr!r}")
                if vr in _LONG_VRS:
                    length, pos = self.read_u32(pos + 4, end)
                else:
                    if pos + 4 > end:
                        raise self.fail(pos, "dataset ends inside a length field")
                    length = struct.unpack_from(self.endian + "H", self.data, pos + 2)[0]
                    pos += 4
            else:
                length, pos = self.read_u32(pos, end)
            if length == _UNDEFINED:
                pos = self.undefined_length(tag, vr, pos, end, depth, explicit)
            else:
                if pos + length > end:
                    raise self.fail(
                        start,
                        f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} bytes "
                        f"but {end - pos} remain",
                    )
                pos += length
        if in_item:
            raise self.fail(pos, "item delimiter missing")
        return pos

    def undefined_length(
        self, tag: int, vr: bytes, pos: int, end: int, depth: int, explicit: bool
    ) -> int:
        if tag == _PIXEL_DATA and vr != b"SQ":
            return self.fragments(pos, end)
        if explicit and vr not in (b"SQ", b"UN"):
            raise self.fail(pos, f"undefined length on VR {vr!r}")
        # PS3.5 6.2.2: UN of undefined length holds Implicit VR Little Endian items.
        item_explicit = explicit and vr == b"SQ"
        while True:
            start = pos
            tag, pos = self.read_tag(pos, end)
            length, pos = self.read_u32(pos, end)
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM:
                raise self.fail(start, "sequence delimiter missing")
            if length == _UNDEFINED:
                pos = self.dataset(pos, end, depth + 1, item_explicit, in_item=True)
            elif pos + length > end:
                raise self.fail(start, f"item declares {length} bytes but {end - pos} remain")
            else:
                self.dataset(pos, pos + length, depth + 1, item_explicit, in_item=False)
                pos += length

    def fragments(self, pos: int, end: int) -> int:
        """Encapsulated Pixel Data (PS3.5 A.4): items of defined length, then a delimiter."""
        count = 0
        while True:
            start = pos
            tag, pos = self.read_tag(pos, end)
            length, pos = self.read_u32(pos, end)
            if tag == _SEQ_END:
                if count == 0:
                    raise self.fail(start, "encapsulated pixel data has no offset table item")
                return pos
            if tag != _ITEM or length == _UNDEFINED:
                raise self.fail(start, "malformed pixel data fragment")
            if pos + length > end:
                raise self.fail(start, f"fragment declares {length} bytes but {end - pos} remain")
            pos += length
            count += 1


def inflate(data: bytes) -> bytes:
    """Inflate a Deflated Explicit VR Little Endian dataset (raw deflate, RFC 1951), bounded."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_INFLATED)
    except zlib.error as exc:
        raise UndecodableDataset(f"deflated dataset does not inflate: {exc}") from exc
    if inflater.unconsumed_tail:
        raise UndecodableDataset("deflated dataset inflates beyond the 2 GiB limit")
    return out


def check_structure(encoded: bytes, transfer_syntax: str) -> None:
    """Raise UndecodableDataset unless `encoded` is a complete, well-nested dataset."""
    ts = UID(transfer_syntax)
    if not encoded:
        raise UndecodableDataset("empty dataset")
    if ts == DeflatedExplicitVRLittleEndian:
        encoded = inflate(encoded)
    explicit = ts != ImplicitVRLittleEndian
    little = ts != ExplicitVRBigEndian
    walker = _Walker(encoded, explicit, little)
    walker.dataset(0, len(encoded), 0, explicit, in_item=False)
