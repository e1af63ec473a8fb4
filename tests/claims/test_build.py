"""Round trips for every table: records → XML → XSD → parse → the same values."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from lxml import etree

from claims.build.checkin import build_checkin
from claims.build.document import serialise
from claims.build.envelope import BUILDERS, build_claim_file
from claims.records.episode import EpisodeRecord, Row, complete_row
from claims.tables import CLAIM_TABLE_NAMES, XML0, table
from claims.tablespec import Field
from claims.validate.parse import parse_claim_file, rows_of
from claims.validate.safexml import parse_xml
from claims.validate.schema import generated_files, schema, schema_for_table, xsd_errors

HOSTILE = "Nguyễn Thị Ánh & <b>\"x\"</b> 'y' ]]> Đ"


def sample_value(f: Field, i: int) -> str:
    """A well-formed value for every kind, varied by row; texts carry hostile characters."""
    by_kind = {
        "int": str(i + 1), "money": f"{1234 + i}.50", "dec3": "0.125", "percent": "80",
        "date": "20261130", "datetime": f"2026113008{10 + i:02d}", "birth": "198000000000",
        "date_or_datetime": "20261130", "datelist": "20260101;20260701",
    }
    if f.kind in by_kind:
        return by_kind[f.kind]
    text = HOSTILE if (f.max_length or 1000) >= len(HOSTILE) else "0" * (f.max_length or 1)
    return text[: f.max_length] if f.max_length else text


def full_rows(name: str, release: str, n: int) -> list[Row]:
    fields = table(name, release).fields
    return [{f.name: sample_value(f, i) for f in fields} for i in range(n)]


@pytest.mark.parametrize("release", ["4750", "3176"])
@pytest.mark.parametrize("name", CLAIM_TABLE_NAMES)
def test_every_table_round_trips_and_validates(name: str, release: str) -> None:
    tbl = table(name, release)
    rows = full_rows(name, release, 2 if tbl.multi_row else 1)
    ends = "202411300900" if release == "4750" else "202611300900"
    xml1 = full_rows("XML1", release, 1)[0] | {"NGAY_RA": ends}
    episode = EpisodeRecord({"XML1": [xml1], name: rows} if name != "XML1" else {"XML1": [xml1]})
    assert episode.release == release
    root = BUILDERS[name](episode)
    data = serialise(root)
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    parsed = parse_xml(data)
    assert [c.tag for c in (parsed[0][0] if tbl.multi_row else parsed)] == list(tbl.field_names)
    assert xsd_errors(schema_for_table(name, parsed), parsed) == []
    assert rows_of(parsed) == (episode.rows(name))


def test_envelope_carries_only_tables_with_rows_in_order(episode: EpisodeRecord) -> None:
    envelope, docs = build_claim_file(episode, "79001", dt.date(2026, 12, 1))
    assert xsd_errors(schema("GIAMDINHHS.xsd"), envelope) == []
    assert [c.tag for c in envelope] == ["THONGTINDONVI", "THONGTINHOSO", "CHUKYDONVI"]
    names = [e.text for e in envelope.iter("LOAIHOSO")]
    assert names == [n for n in CLAIM_TABLE_NAMES if episode.rows(n)]
    assert envelope.findtext("THONGTINHOSO/NGAYLAP") == "20261201"
    assert envelope.findtext("THONGTINHOSO/SOLUONGHOSO") == "1"
    content = envelope.findtext(".//NOIDUNGFILE") or ""
    assert "\n" not in content
    assert base64.b64decode(content) == serialise(docs[0][1])
    claim = parse_claim_file(serialise(envelope))
    assert [d.name for d in claim.episodes[0]] == names
    for doc in claim.episodes[0]:
        assert doc.root is not None
        assert rows_of(doc.root) == [complete_row(doc.name, r, episode.release)
                                     for r in episode.rows(doc.name)]


def test_money_and_dates_formats_in_the_xml(episode: EpisodeRecord) -> None:
    root = BUILDERS["XML3"](episode)
    for row in root.iter("CHI_TIET_DVKT"):
        assert len(row.findtext("NGAY_YL") or "") == 12
        money = row.findtext("THANH_TIEN_BV") or ""
        assert money.count(".") == 1 and len(money.split(".")[1]) == 2


def test_checkin_document_validates_and_names_first_cost(episode: EpisodeRecord) -> None:
    root = build_checkin([episode])
    parsed = parse_xml(serialise(root))
    assert xsd_errors(schema_for_table("XML0", parsed), parsed) == []
    row = rows_of(parsed)[0]
    first = min(episode.rows("XML2") + episode.rows("XML3"), key=lambda r: r["NGAY_YL"])
    assert row["NGAY_YL"] == first["NGAY_YL"]
    assert row["MA_DICH_VU"] == first.get("MA_DICH_VU", "") or row["MA_THUOC"] == first.get(
        "MA_THUOC")
    assert [c.tag for c in parsed] == ["DSACH_TRANG_THAI_KCB", "CHUKYDONVI"]
    assert list(XML0.field_names) == [c.tag for c in parsed[0][0]]


def test_shipped_xsd_files_match_the_field_tables() -> None:
    from importlib import resources

    folder = resources.files("claims") / "validate" / "xsd"
    for name, text in generated_files().items():
        assert (folder / name).read_text(encoding="utf-8") == text, name


def test_xsd_rejects_wrong_order_and_bad_numbers(episode: EpisodeRecord) -> None:
    root = BUILDERS["XML3"](episode)
    row = root[0][0]
    row.find("THANH_TIEN_BV").text = "1,234.50"  # type: ignore[union-attr]
    assert xsd_errors(schema("XML3.xsd"), root)
    root = BUILDERS["XML1"](episode)
    first = root[0]
    root.remove(first)
    root.append(first)
    assert xsd_errors(schema("XML1.xsd"), root)
    assert isinstance(root, etree._Element)
