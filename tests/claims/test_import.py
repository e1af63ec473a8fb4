"""Getting records in: the import service, JSON / CSV / QĐ 130 XML files, and hostile XML."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from claims import synthetic
from claims.build.document import serialise
from claims.build.envelope import build_claim_file
from claims.codes import CodeLists
from claims.errors import RecordInvalid
from claims.records.importers import import_file
from claims.records.models import ClaimEpisode, ClaimRow
from claims.records.service import import_episode
from claims.records.store import load_episodes, to_record
from lienthong.db import make_engine, make_sessionmaker
from tests.claims.conftest import DAY
from tests.support.server import lienthong, lienthong_measured


def payload(index: int) -> dict[str, object]:
    e = synthetic.episode(index, DAY, lines=6)
    return {"XML1": e.xml1, **{k: v for k, v in e.tables.items() if k != "XML1"},
            "accession_numbers": {"0": f"ACC{index:04d}"}}


@pytest.fixture()
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    return make_sessionmaker(make_engine(database_url))


def count(sessions, model) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def test_service_stores_exact_texts(sessions, codes: CodeLists) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        result = import_episode(s, payload(1), codes=codes)
    with sessions() as s:
        stored = to_record(load_episodes(s, [result.episode_id])[0])
    original = payload(1)
    assert stored.xml1 == original["XML1"]
    assert stored.rows("XML2") == original["XML2"]
    assert stored.accession_numbers == {0: "ACC0001"}
    assert stored.xml1["MA_LOAI_KCB"] == "01" and stored.xml1["MA_NGHE_NGHIEP"] == "00000"


def test_service_lists_every_problem_by_field_and_stores_nothing(sessions, codes) -> None:  # type: ignore[no-untyped-def]
    bad = payload(2)
    xml1 = dict(bad["XML1"])  # type: ignore[call-overload]
    xml1.update(HO_TEN="", NGAY_VAO="2026-11-30", T_THUOC=12.5, MA_LOAI_KCB="1")
    bad["XML1"] = xml1
    bad["XML2"][0]["SO_LUONG"] = "abc"  # type: ignore[index]
    with pytest.raises(RecordInvalid) as info, sessions.begin() as s:
        import_episode(s, bad, codes=codes)
    where = {(p.table, p.field) for p in info.value.problems}
    assert {("XML1", "HO_TEN"), ("XML1", "NGAY_VAO"), ("XML1", "T_THUOC"),
            ("XML1", "MA_LOAI_KCB"), ("XML2", "SO_LUONG")} <= where
    assert all(p.message_vi and p.message_en for p in info.value.problems)
    assert count(sessions, ClaimEpisode) == 0 and count(sessions, ClaimRow) == 0


def test_json_csv_and_xml_files_import_the_same_episode(tmp_path: Path, sessions,  # type: ignore[no-untyped-def]
                                                        codes: CodeLists) -> None:
    e = synthetic.episode(3, DAY, lines=6)
    (tmp_path / "one.json").write_text(json.dumps(payload(3), ensure_ascii=False), "utf-8")
    folder = tmp_path / "csv"
    folder.mkdir()
    for name, rows in e.tables.items():
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
            writer.writeheader()
            writer.writerows(rows)
    (tmp_path / "his.xml").write_bytes(serialise(build_claim_file(e, "79001", DAY)[0]))
    stored = []
    for source in (tmp_path / "one.json", folder, tmp_path / "his.xml"):
        with sessions.begin() as s:
            [result] = import_file(s, source, codes)
        with sessions() as s:
            stored.append(to_record(load_episodes(s, [result.episode_id])[0]))
    strip = [{n: [{k: v for k, v in r.items() if v} for r in x.tables[n]] for n in x.tables}
             for x in stored]
    assert strip[0] == strip[1] == strip[2]
    assert count(sessions, ClaimEpisode) == 1


def test_malformed_csv_lists_every_problem_and_stores_nothing(tmp_path: Path, sessions,  # type: ignore[no-untyped-def]
                                                              codes: CodeLists) -> None:
    e = synthetic.episode(4, DAY, lines=6)
    (tmp_path / "XML1.csv").write_text(
        "MA_LK,HO_TEN,BOGUS\n" + f"{e.ma_lk},,x\n{e.ma_lk},dup,y\n", "utf-8")
    (tmp_path / "XML2.csv").write_text("MA_LK,SO_LUONG\nNOPE,1\n" + f"{e.ma_lk},1,extra\n",
                                       "utf-8")
    with pytest.raises(RecordInvalid) as info, sessions.begin() as s:
        import_file(s, tmp_path, codes)
    messages = [p.message_en for p in info.value.problems]
    assert "column is not a field of the table" in messages
    assert "duplicate MA_LK" in messages
    assert "MA_LK not found in XML1" in messages
    assert "row has more columns than the header" in messages
    assert any(p.field == "HO_TEN" and p.episode == e.ma_lk for p in info.value.problems)
    assert count(sessions, ClaimEpisode) == 0


def test_malformed_json_file_and_one_bad_episode_store_nothing(tmp_path: Path, sessions,  # type: ignore[no-untyped-def]
                                                              codes: CodeLists) -> None:
    (tmp_path / "broken.json").write_text('{"XML1": {', "utf-8")
    with pytest.raises(RecordInvalid, match="1 problem"), sessions.begin() as s:
        import_file(s, tmp_path / "broken.json", codes)
    bad = payload(6)
    bad["XML1"] = dict(bad["XML1"], GIOI_TINH="9")  # type: ignore[call-overload]
    (tmp_path / "two.json").write_text(json.dumps([payload(5), bad, "x"]), "utf-8")
    with pytest.raises(RecordInvalid) as info, sessions.begin() as s:
        import_file(s, tmp_path / "two.json", codes)
    assert {p.field for p in info.value.problems} >= {"GIOI_TINH", ""}
    assert count(sessions, ClaimEpisode) == 0


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE GIAMDINHHS [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<GIAMDINHHS><THONGTINDONVI><MACSKCB>&x;</MACSKCB></THONGTINDONVI></GIAMDINHHS>"""

LAUGHS = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
    f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
    for i in range(1, 10)) + b"]>\n<GIAMDINHHS>&lol9;</GIAMDINHHS>"


DEEP = b"<GIAMDINHHS>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</GIAMDINHHS>"


@pytest.mark.parametrize(("attack", "reason"), [(XXE, "DOCTYPE"), (LAUGHS, "DOCTYPE"),
                                                (DEEP, "depth")],
                         ids=["xxe", "billion-laughs", "deep"])
@pytest.mark.parametrize("command", ["validate", "import"])
def test_hostile_xml_is_refused_by_the_cli(tmp_path: Path, attack: bytes, reason: str,
                                           command: str) -> None:
    path = tmp_path / "attack.xml"
    path.write_bytes(attack)
    code, out, err, peak_kib = lienthong_measured(tmp_path / "data", "claims", command, str(path))
    assert code == 1
    assert reason in err
    # Bounded memory: the command never grew anywhere near an entity expansion.
    assert peak_kib < 400 * 1024
    assert "root:" not in out + err  # nothing of /etc/passwd leaks


def test_hostile_xml_inside_noidungfile_is_refused(tmp_path: Path) -> None:
    import base64

    inner = base64.b64encode(LAUGHS).decode()
    envelope = ("<GIAMDINHHS><THONGTINDONVI><MACSKCB>79001</MACSKCB></THONGTINDONVI>"
                "<THONGTINHOSO><NGAYLAP>20261201</NGAYLAP><SOLUONGHOSO>1</SOLUONGHOSO>"
                "<DANHSACHHOSO><HOSO><FILEHOSO><LOAIHOSO>XML1</LOAIHOSO>"
                f"<NOIDUNGFILE>{inner}</NOIDUNGFILE></FILEHOSO></HOSO></DANHSACHHOSO>"
                "</THONGTINHOSO><CHUKYDONVI/></GIAMDINHHS>")
    path = tmp_path / "nested.xml"
    path.write_text(envelope, "utf-8")
    result = lienthong(tmp_path / "data", "claims", "validate", "--no-signature", str(path),
                       check=False)
    assert result.returncode == 1
    assert "DOCTYPE" in result.stdout


def test_vendor_style_file_with_cdata_validates(tmp_path: Path, signing_key) -> None:  # type: ignore[no-untyped-def]
    """Another vendor's layout: short XML declaration, CDATA text, our rules still apply."""
    import base64

    from lxml import etree

    from claims.sign import sign_document

    e = synthetic.episode(8, DAY, lines=6)
    envelope = build_claim_file(e, "79001", DAY)[0]
    for item in envelope.iter("FILEHOSO"):
        content = item.find("NOIDUNGFILE")
        assert content is not None and content.text
        doc = base64.b64decode(content.text).replace(
            b'<?xml version="1.0" encoding="utf-8"?>', b'<?xml version="1.0"?>')
        root = etree.fromstring(doc)
        for node in root.iter():
            if node.text and not len(node) and not node.text.isdigit():
                node.text = etree.CDATA(node.text)
        content.text = base64.b64encode(b'<?xml version="1.0"?>\n' + etree.tostring(
            root, encoding="utf-8")).decode()
    path = tmp_path / "vendor.xml"
    path.write_bytes(serialise(sign_document(envelope, signing_key)))
    ok = lienthong(tmp_path / "data", "claims", "validate", str(path), check=False)
    assert ok.returncode == 0, ok.stdout
    assert "0 error(s)" in ok.stdout
