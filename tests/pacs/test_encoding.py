"""pacs.encoding.check_structure on hand-built element streams (PS3.5 7.1-7.5, A.4)."""

from __future__ import annotations

import struct
import zlib

import pytest

from pacs import encoding
from pacs.encoding import check_structure
from pacs.errors import UndecodableDataset

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"

LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
UNDEFINED = 0xFFFFFFFF


def tag(group: int, element: int, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", group, element)


def explicit(group: int, element: int, vr: str, value: bytes, *, endian: str = "<",
             length: int | None = None) -> bytes:
    """One Explicit VR element; `length` overrides the declared length."""
    n = len(value) if length is None else length
    if vr in LONG_VRS:
        return tag(group, element, endian) + vr.encode() + b"\0\0" + struct.pack(
            endian + "I", n) + value
    return tag(group, element, endian) + vr.encode() + struct.pack(endian + "H", n) + value


def implicit(group: int, element: int, value: bytes, *, length: int | None = None) -> bytes:
    n = len(value) if length is None else length
    return tag(group, element) + struct.pack("<I", n) + value


def item(content: bytes, *, defined: bool = True, endian: str = "<") -> bytes:
    if defined:
        return tag(0xFFFE, 0xE000, endian) + struct.pack(endian + "I", len(content)) + content
    return (tag(0xFFFE, 0xE000, endian) + struct.pack(endian + "I", UNDEFINED) + content
            + tag(0xFFFE, 0xE00D, endian) + b"\0\0\0\0")


SEQ_END = tag(0xFFFE, 0xE0DD) + b"\0\0\0\0"


def explicit_sq_undefined(group: int, element: int, items: bytes) -> bytes:
    return tag(group, element) + b"SQ\0\0" + struct.pack("<I", UNDEFINED) + items + SEQ_END


def patient_name(endian: str = "<") -> bytes:
    return explicit(0x0010, 0x0010, "PN", b"Nguyen^An ", endian=endian)


# --- valid streams pass -------------------------------------------------------------------


def test_valid_implicit_dataset_passes() -> None:
    inner = implicit(0x0008, 0x1150, b"1.2.3\0") + implicit(0x0008, 0x1155, b"1.2.4\0")
    seq = tag(0x0008, 0x1140) + struct.pack("<I", UNDEFINED) + item(inner, defined=False)
    seq += SEQ_END
    data = implicit(0x0008, 0x0060, b"CT") + seq + implicit(0x0010, 0x0010, b"An^Binh ")
    check_structure(data, IMPLICIT_LE)


def test_valid_explicit_dataset_with_sequences_passes() -> None:
    inner = explicit(0x0008, 0x1150, "UI", b"1.2.3\0")
    defined_sq = explicit(0x0008, 0x1115, "SQ", item(inner) + item(inner))
    undefined_sq = explicit_sq_undefined(0x0008, 0x1140, item(inner, defined=False))
    data = explicit(0x0008, 0x0060, "CS", b"CT") + defined_sq + undefined_sq + patient_name()
    check_structure(data, EXPLICIT_LE)


def test_valid_big_endian_dataset_passes() -> None:
    data = explicit(0x0008, 0x0060, "CS", b"MR", endian=">") + patient_name(">")
    data += explicit(0x0028, 0x0010, "US", struct.pack(">H", 2), endian=">")
    data += explicit(0x7FE0, 0x0010, "OW", b"\x01\x02\x03\x04\x05\x06\x07\x08", endian=">")
    check_structure(data, EXPLICIT_BE)
    # The same bytes read as little endian declare absurd lengths: the walker must notice.
    with pytest.raises(UndecodableDataset):
        check_structure(data, EXPLICIT_LE)


def test_valid_encapsulated_pixel_data_passes() -> None:
    fragments = item(b"") + item(b"\xff\xd8 frame one \xff\xd9\0")
    pixel = tag(0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", UNDEFINED) + fragments + SEQ_END
    check_structure(patient_name() + pixel, JPEG_BASELINE)


def test_un_of_undefined_length_holds_implicit_items() -> None:
    inner = implicit(0x0008, 0x1150, b"1.2.3\0")  # implicit inside, per PS3.5 6.2.2
    un = tag(0x4453, 0x100C) + b"UN\0\0" + struct.pack("<I", UNDEFINED)
    un += item(inner, defined=False) + SEQ_END
    check_structure(patient_name() + un, EXPLICIT_LE)


# --- defects are refused ------------------------------------------------------------------


def test_empty_dataset() -> None:
    with pytest.raises(UndecodableDataset, match="empty"):
        check_structure(b"", EXPLICIT_LE)


def test_truncated_value() -> None:
    data = patient_name() + explicit(0x0020, 0x000D, "UI", b"1.2.3", length=10)
    with pytest.raises(UndecodableDataset, match="declares 10 bytes but 5 remain"):
        check_structure(data, EXPLICIT_LE)


def test_truncated_value_implicit() -> None:
    data = implicit(0x0010, 0x0010, b"An^Binh ") + implicit(0x7FE0, 0x0010, b"\0" * 6,
                                                             length=8192)
    with pytest.raises(UndecodableDataset, match="declares 8192 bytes"):
        check_structure(data, IMPLICIT_LE)


def test_stream_ending_inside_a_tag_or_header() -> None:
    for cut in (2, 5, 7):  # inside the tag, inside the VR, inside the length
        with pytest.raises(UndecodableDataset, match="ends inside"):
            later = explicit(0x0020, 0x000D, "UI", b"1.2.3\0")[:cut]
            check_structure(patient_name() + later, EXPLICIT_LE)


def test_missing_item_delimiter() -> None:
    inner = explicit(0x0008, 0x1150, "UI", b"1.2.3\0")
    open_item = tag(0xFFFE, 0xE000) + struct.pack("<I", UNDEFINED) + inner  # no (FFFE,E00D)
    data = explicit_sq_undefined(0x0008, 0x1140, open_item)
    with pytest.raises(UndecodableDataset, match="delimiter"):
        check_structure(data, EXPLICIT_LE)
    # ...and at the very end of the stream.
    cut = tag(0x0008, 0x1140) + b"SQ\0\0" + struct.pack("<I", UNDEFINED) + open_item
    with pytest.raises(UndecodableDataset, match="item delimiter missing"):
        check_structure(cut, EXPLICIT_LE)


def test_missing_sequence_delimiter() -> None:
    inner = explicit(0x0008, 0x1150, "UI", b"1.2.3\0")
    no_end = tag(0x0008, 0x1140) + b"SQ\0\0" + struct.pack("<I", UNDEFINED) + item(inner)
    with pytest.raises(UndecodableDataset):  # the stream stops where the delimiter should be
        check_structure(no_end, EXPLICIT_LE)
    with pytest.raises(UndecodableDataset, match="sequence delimiter missing"):
        check_structure(no_end + patient_name(), EXPLICIT_LE)


def test_encapsulated_pixel_data_without_sequence_delimiter() -> None:
    fragments = item(b"") + item(b"\xff\xd8\xff\xd9")
    pixel = tag(0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", UNDEFINED) + fragments
    with pytest.raises(UndecodableDataset):
        check_structure(patient_name() + pixel, JPEG_BASELINE)


def test_out_of_order_tags() -> None:
    data = patient_name() + explicit(0x0008, 0x0060, "CS", b"CT")
    with pytest.raises(UndecodableDataset, match=r"\(0008,0060\) out of order"):
        check_structure(data, EXPLICIT_LE)
    with pytest.raises(UndecodableDataset, match="out of order"):
        check_structure(patient_name() + patient_name(), EXPLICIT_LE)  # repeated tag


def test_invalid_vr_and_undefined_length_on_a_plain_vr() -> None:
    with pytest.raises(UndecodableDataset, match="invalid VR"):
        check_structure(explicit(0x0010, 0x0010, "ZZ", b"AB"), EXPLICIT_LE)
    bad = tag(0x0010, 0x1010) + b"UT\0\0" + struct.pack("<I", UNDEFINED) + b"ABCD"
    with pytest.raises(UndecodableDataset, match="undefined length on VR"):
        check_structure(bad, EXPLICIT_LE)


def test_stray_delimiters() -> None:
    with pytest.raises(UndecodableDataset, match="item delimiter outside an item"):
        check_structure(patient_name() + tag(0xFFFE, 0xE00D) + b"\0\0\0\0", EXPLICIT_LE)
    with pytest.raises(UndecodableDataset, match="unexpected item or sequence delimiter"):
        check_structure(patient_name() + SEQ_END, EXPLICIT_LE)


def nested(depth: int) -> bytes:
    """`depth` sequences of undefined length, each holding one item with the next."""
    content = explicit(0x0008, 0x1150, "UI", b"1.2.3\0")
    for _ in range(depth):
        content = explicit_sq_undefined(0x0008, 0x1140, item(content, defined=False))
    return content


def test_nesting_up_to_max_depth_passes() -> None:
    check_structure(nested(encoding.MAX_DEPTH), EXPLICIT_LE)


def test_nesting_deeper_than_max_depth() -> None:
    with pytest.raises(UndecodableDataset, match=f"deeper than {encoding.MAX_DEPTH}"):
        check_structure(nested(encoding.MAX_DEPTH + 1), EXPLICIT_LE)
    # 300 levels made pydicom 3.0.2 raise RecursionError; here it is an ordinary refusal.
    with pytest.raises(UndecodableDataset, match="deeper than"):
        check_structure(nested(300), EXPLICIT_LE)


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def test_deflated_dataset_passes_and_is_walked() -> None:
    data = patient_name() + explicit(0x7FE0, 0x0010, "OB", b"\0" * 4096)
    check_structure(deflate(data), DEFLATED)
    truncated = patient_name() + explicit(0x7FE0, 0x0010, "OB", b"\0" * 64, length=4096)
    with pytest.raises(UndecodableDataset, match="declares 4096 bytes"):
        check_structure(deflate(truncated), DEFLATED)


def test_deflate_bomb_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A few hundred bytes that inflate to 1 MiB; with the bound lowered to 64 KiB the check
    # must stop inflating at the bound instead of materialising the whole output.
    data = patient_name() + explicit(0x7FE0, 0x0010, "OB", b"\0" * (1 << 20))
    bomb = deflate(data)
    assert len(bomb) < 2048
    check_structure(bomb, DEFLATED)  # within the default bound it is just a big dataset
    monkeypatch.setattr(encoding, "MAX_INFLATED", 64 * 1024)
    with pytest.raises(UndecodableDataset, match="inflates beyond"):
        check_structure(bomb, DEFLATED)


def test_corrupt_deflate_stream() -> None:
    with pytest.raises(UndecodableDataset, match="does not inflate"):
        check_structure(b"\xff\xff\xff\xff not deflate", DEFLATED)
