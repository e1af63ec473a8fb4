"""The quick paths of export and validate give the same answers as the general ones: table
markup vs one element per field, our signature profile vs signxml, quick format checks vs
format_problem, schema-valid rows vs the same rows unchecked, the envelope XSD after a
canonical-base64 check vs the whole XSD, folder validation in worker processes vs in this
process; and absurd numbers are reported instead of stopping a run."""

from __future__ import annotations

import base64
import datetime as dt
import unicodedata
from pathlib import Path

import pybase64
import pytest
from cryptography import x509
from signxml import XMLVerifier
from signxml.exceptions import InvalidSignature

from claims import values
from claims.build.document import _build_with_elements, build_table, serialise
from claims.build.envelope import build_claim_file
from claims.codes import CodeLists
from claims.errors import SignatureInvalid
from claims.records.episode import EpisodeRecord
from claims.sign import DS_NS, SigningKey, _verify_own_profile, sign_document, verify_document
from claims.tables import table
from claims.tablespec import Field
from claims.validate import batch
from claims.validate.check_file import check_claim_file, envelope_xsd_errors
from claims.validate.parse import canonical_base64, episode_from_documents, parse_claim_file
from claims.validate.rules import check_episode
from claims.validate.safexml import parse_xml
from claims.validate.schema import schema, xsd_errors

DAY = dt.date(2026, 12, 1)


def signed(episode: EpisodeRecord, key: SigningKey) -> bytes:
    return serialise(sign_document(build_claim_file(episode, "79001", DAY)[0], key))


def test_table_markup_gives_the_bytes_of_one_element_per_field(episode: EpisodeRecord) -> None:
    rows = [dict(r) for r in episode.rows("XML2")]
    rows[0]["TEN_THUOC"] = 'a"b\'c>d\te\nf\rg & <h> ]]> ' + unicodedata.normalize("NFD", "Đào")
    rows[1]["LIEU_DUNG"] = "   "
    rows[2]["HAM_LUONG"] = ""
    for name, found in (("XML2", rows), ("XML1", episode.rows("XML1"))):
        tbl = table(name)
        assert serialise(build_table(tbl, found)) == serialise(_build_with_elements(tbl, found))
    assert "\r" in (build_table(table("XML2"), rows).findtext(".//TEN_THUOC") or "")


def test_a_control_character_fails_as_lxml_does(episode: EpisodeRecord) -> None:
    rows = [dict(r) for r in episode.rows("XML2")]
    rows[0]["TEN_THUOC"] = "bad\x01"
    with pytest.raises(ValueError, match="XML compatible"):
        build_table(table("XML2"), rows)


def test_own_signature_profile_is_checked_without_signxml_and_agrees_with_it(
    episode: EpisodeRecord, signing_key: SigningKey, p12: tuple[Path, x509.Certificate]
) -> None:
    data = signed(episode, signing_key)
    root = parse_xml(data)
    holder = root.find("CHUKYDONVI")
    assert holder is not None
    assert _verify_own_profile(root, holder, p12[1]) is True
    XMLVerifier().verify(parse_xml(data), x509_cert=p12[1])
    value = root.find(f".//{{{DS_NS}}}SignatureValue")
    assert value is not None and value.text
    for tampered in (
        data.replace(b"<NGAYLAP>20261201<", b"<NGAYLAP>20261202<"),
        data.replace(value.text[:12].encode(), value.text[:11].encode() +
                     (b"A" if value.text[11] != "A" else b"B")),
    ):
        with pytest.raises(SignatureInvalid):
            verify_document(parse_xml(tampered))
        with pytest.raises(InvalidSignature):
            XMLVerifier().verify(parse_xml(tampered), x509_cert=p12[1])


def test_other_signature_shapes_go_to_signxml(episode: EpisodeRecord, signing_key: SigningKey,
                                               p12: tuple[Path, x509.Certificate]) -> None:
    # A comment inside ds:Signature is outside our profile; C14N drops it, so the signature
    # still verifies, through signxml.
    data = signed(episode, signing_key).replace(
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">',
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><!-- note -->')
    root = parse_xml(data)
    holder = root.find("CHUKYDONVI")
    assert holder is not None
    assert _verify_own_profile(root, holder, p12[1]) is False
    assert verify_document(root) == p12[1]
    # Text after the Signature was not signed: the general verifier finds the digest changed.
    data = signed(episode, signing_key).replace(b"</ds:Signature>", b"</ds:Signature>\n")
    root = parse_xml(data)
    holder = root.find("CHUKYDONVI")
    assert holder is not None
    assert _verify_own_profile(root, holder, p12[1]) is False
    with pytest.raises(SignatureInvalid):
        verify_document(root)


@pytest.mark.parametrize("kind", ["int", "money", "dec3", "date", "datetime", "percent"])
def test_quick_format_checks_accept_only_what_format_problem_accepts(kind: str) -> None:
    samples = ["0", "12", "012", "1.5", "1.25", "1.255", "1.", ".5", "-1", "1e3", "١٢", "²",
               "20261130", "20261301", "20260229", "20240229", "202611301200", "202611302460",
               "202611302359", "2026113012", " 1", "1 ", "12345678901", "9" * 20, "100",
               "101", "0100", "100.00", "99.5", "1\n", "١٠٠", "١٠١"]
    for limit in (None, 3, 8, 12):
        # MUC_HUONG is the percentage with decimals (spec.MUC_HUONG_DECIMALS), X with none.
        for name in ("X", "MUC_HUONG"):
            fld = Field(name, kind, limit, "O")  # type: ignore[arg-type]
            for text in samples:
                if values.well_formed_quick(fld, text):
                    assert values.format_problem(fld, text) is None, (kind, limit, text)
    assert values.well_formed_quick(Field("X", "datetime", 12, "O"), "202611301200")


def test_a_folder_is_validated_in_workers_with_the_same_results(
    episode: EpisodeRecord, signing_key: SigningKey, codes: CodeLists, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    good = signed(episode, signing_key)
    (tmp_path / "a.xml").write_bytes(good)
    (tmp_path / "b.xml").write_bytes(good.replace(b"<MACSKCB>79001<", b"<MACSKCB>79002<"))
    (tmp_path / "c.xml").write_bytes(b'<!DOCTYPE x [<!ENTITY a "b">]><GIAMDINHHS/>')
    (tmp_path / "notes.txt").write_bytes(b"not a claim")
    files = batch.claim_files([tmp_path])
    assert [p.name for p in files] == ["a.xml", "b.xml", "c.xml"]
    alone = list(batch.check_paths(files, codes, workers=1))
    monkeypatch.setattr(batch, "POOL_FROM_FILES", 2)
    pooled = list(batch.check_paths(files, codes, workers=2))
    assert pooled == alone
    assert [r.errors == [] for r in alone] == [True, False, True]
    assert [r.rule for r in alone[1].errors] == ["S04-SIGNATURE"]
    assert "DOCTYPE" in alone[2].refused


@pytest.mark.parametrize("value", ["1" * 40, "Infinity", "NaN", "-Infinity", "12x"])
def test_absurd_numbers_are_reported_not_fatal(episode: EpisodeRecord, codes: CodeLists,
                                               value: str) -> None:
    episode.tables["XML2"][0]["DON_GIA"] = value
    episode.tables["XML2"][1]["THANH_TIEN_BV"] = value
    episode.tables["XML3"][0]["T_TRANTT"] = value
    episode.xml1["T_TONGCHI_BH"] = value
    found = check_episode(episode, codes)
    assert any(v.rule == "F06-FORMAT" and v.field == "DON_GIA" and v.table == "XML2"
               for v in found)


@pytest.mark.parametrize(("name", "fld", "value", "xsd_valid"), [
    ("XML2", "NGAY_YL", "202611302460", True),  # twelve digits, not a time
    ("XML2", "TYLE_TT_BH", "150", True),  # three digits, over 100 %
    ("XML1", "NGAY_SINH", "199013450000", True),
    ("XML3", "DON_GIA_BV", "1.2345", False),  # the table is then checked field by field
    ("XML3", "TEN_DICH_VU", "x" * 1025, False),
])
def test_rules_on_a_file_find_what_they_find_on_its_record(
    episode: EpisodeRecord, signing_key: SigningKey, codes: CodeLists, name: str, fld: str,
    value: str, xsd_valid: bool
) -> None:
    # claims validate skips the F06 checks a table's XSD already made; the findings must be
    # those of every check run on the same rows.
    episode.tables[name][0][fld] = value
    data = signed(episode, signing_key)
    from_file = check_claim_file(data, codes)
    reread = episode_from_documents(parse_claim_file(data).episodes[0])
    assert reread.schema_valid == frozenset()
    assert [v for v in from_file if v.rule != "S01-XSD"] == check_episode(reread, codes)
    assert any(v.rule == "F06-FORMAT" and v.table == name and v.field == fld
               for v in from_file)
    assert any(v.rule == "S01-XSD" and v.table == name for v in from_file) is not xsd_valid


@pytest.mark.parametrize("changes", [
    {("XML1", "SO_CCCD"): "12", ("XML1", "MA_DKBD"): "1;22222", ("XML1", "GIOI_TINH"): "7"},
    {("XML1", "MA_BENH_CHINH"): "S06", ("XML1", "MA_BENH_KT"): "R51;X;" + ";".join(["A01"] * 13)},
    {("XML2", "MA_NHOM"): "99", ("XML2", "PHAM_VI"): "2", ("XML3", "MA_PTTT"): "9"},
    {("XML2", "MUC_HUONG"): "95", ("XML3", "TYLE_TT_DV"): "101", ("XML2", "TEN_THUOC"): "   "},
    {("XML1", "MA_CSKCB"): "7900", ("XML1", "MA_LOAI_KCB"): "99", ("XML1", "HO_TEN"): ""},
    {("XML2", "TYLE_TT_BH"): "150", ("XML3", "MUC_HUONG"): "101", ("XML1", "CAN_NANG"): "250"},
])
def test_rules_on_schema_valid_tables_report_what_the_general_rules_report(
    episode: EpisodeRecord, signing_key: SigningKey, codes: CodeLists,
    changes: dict[tuple[str, str], str]
) -> None:
    # Rows of a table that passed its XSD are checked with fewer look-ups (only the table's
    # own fields, F06 only beyond the XSD); the same rows seen as unchecked input must give
    # the same findings.
    for (name, fld), value in changes.items():
        episode.tables[name][0][fld] = value
    data = signed(episode, signing_key)
    from_file = check_claim_file(data, codes)
    # No XSD finding: every table of the file was read as schema-valid.
    assert not any(v.rule in ("S01-XSD", "S02-ENVELOPE") for v in from_file)
    general = episode_from_documents(parse_claim_file(data).episodes[0])
    assert general.schema_valid == frozenset()
    assert from_file == check_episode(general, codes)
    assert {v.field for v in from_file} & {fld for _, fld in changes}


_BASE64_SAMPLES = ["", "QQ==", "QR==", "QUI=", "QUJ=", "QUJD", "QUJDRA==", "QUJD RA==",
                   "QUJD\nRA==", "QUJDRA=", "QUJDRA===", "=QUJ", "QU=D", "QUJDR", "Q!JD",
                   "QUJDÀA==", "====", "QQ=A", "Q===", "QUJD\tA==",
                   "QUJDRA==QUJD", base64.b64encode(bytes(range(256))).decode()]


@pytest.mark.parametrize("text", _BASE64_SAMPLES)
def test_canonical_base64_is_what_the_envelope_xsd_accepts_and_decodes_the_same(
    text: str
) -> None:
    raw = canonical_base64(text)
    if raw is not None:
        assert raw == text.encode()
        assert pybase64.b64decode(raw, validate=True) == base64.b64decode(text, validate=True)
        root = parse_xml(_envelope_with(text))
        assert schema("GIAMDINHHS.xsd").validate(root)


@pytest.mark.parametrize("text", [*_BASE64_SAMPLES, "<!-- c -->", "QUJD<!-- c -->RA=="])
def test_envelope_checked_without_its_base64_reports_what_the_whole_xsd_reports(
    text: str, episode: EpisodeRecord, signing_key: SigningKey, codes: CodeLists
) -> None:
    # The XML4 document's base64 is replaced by the sample (comments make the element's value
    # differ from its first text node).
    data = signed(episode, signing_key)
    start = data.index(b"<NOIDUNGFILE>", data.index(b"<LOAIHOSO>XML4<")) + len(b"<NOIDUNGFILE>")
    data = data[:start] + text.encode() + data[data.index(b"</NOIDUNGFILE>", start):]
    claim = parse_claim_file(data)
    assert envelope_xsd_errors(claim) == xsd_errors(schema("GIAMDINHHS.xsd"), claim.root)
    found = check_claim_file(data, codes, verify_signature=False)
    assert any(v.table == "XML4" for v in found) or canonical_base64(text) is not None


def _envelope_with(text: str) -> bytes:
    return ("<GIAMDINHHS><THONGTINDONVI><MACSKCB>79001</MACSKCB></THONGTINDONVI><THONGTINHOSO>"
            "<NGAYLAP>20261201</NGAYLAP><SOLUONGHOSO>1</SOLUONGHOSO><DANHSACHHOSO><HOSO>"
            f"<FILEHOSO><LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>{text}</NOIDUNGFILE></FILEHOSO>"
            "</HOSO></DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI/></GIAMDINHHS>").encode()


def test_text_memo_remembers_up_to_its_limit_and_never_an_error() -> None:
    calls: list[str] = []

    @values.text_memo(2)
    def number(text: str) -> int:
        calls.append(text)
        return int(text)

    assert [number("1"), number("1"), number("2")] == [1, 1, 2]
    assert calls == ["1", "2"]
    assert number("3") == 3  # a third text starts afresh
    assert number("1") == 1
    assert calls == ["1", "2", "3", "1"]
    for _ in range(2):
        with pytest.raises(ValueError):
            number("x")
    assert calls[-2:] == ["x", "x"]
