"""One violation per pre-check rule (spec §8): a valid episode, one change, the expected finding."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from claims.codes import CodeLists
from claims.records.episode import EpisodeRecord
from claims.validate.rules import RULES, check_episode

Mutation = Callable[[EpisodeRecord], None]


def _imaging(e: EpisodeRecord) -> dict[str, str]:
    return next(r for r in e.rows("XML3") if r["MA_NHOM"] == "2")


def _set(table: str, index: int, **fields: str) -> Mutation:
    def change(e: EpisodeRecord) -> None:
        e.tables[table][index].update(fields)
    return change


def _add_xml8(e: EpisodeRecord) -> None:
    e.tables["XML8"] = [{"MA_LK": e.ma_lk, "MA_LOAI_KCB": "01"}]


def _second_xml1(e: EpisodeRecord) -> None:
    e.tables["XML1"].append(dict(e.xml1))


def _drop_performer(e: EpisodeRecord) -> None:
    _imaging(e)["NGUOI_THUC_HIEN"] = ""


def _drop_report_text(e: EpisodeRecord) -> None:
    e.rows("XML4")[0]["MO_TA"] = ""


def _inpatient_two_consults(e: EpisodeRecord) -> None:
    e.xml1.update(MA_LOAI_KCB="03", NGAY_RA=e.xml1["NGAY_VAO"][:8] + "2300", SO_NGAY_DTRI="1")
    consult = next(r for r in e.rows("XML3") if r["MA_NHOM"] == "13")
    e.tables["XML3"].append(dict(consult, STT=str(len(e.rows("XML3")) + 1),
                                 NGAY_YL=e.xml1["NGAY_VAO"][:8] + "1500"))


def _bed_over_one(e: EpisodeRecord) -> None:
    e.xml1.update(MA_LOAI_KCB="03", NGAY_RA=e.xml1["NGAY_VAO"][:8] + "2300", SO_NGAY_DTRI="1")
    e.tables["XML3"][0].update(MA_NHOM="15", MA_GIUONG="H001", SO_LUONG="2")


def _duplicate_drug(e: EpisodeRecord) -> None:
    e.tables["XML2"].append(dict(e.rows("XML2")[0], STT=str(len(e.rows("XML2")) + 1)))


def _demographics(e: EpisodeRecord) -> None:
    e.tables["XML14"] = [{"MA_LK": e.ma_lk, "HO_TEN": "Người Khác"}]


def _ceiling(e: EpisodeRecord) -> None:
    e.tables["XML3"][0]["T_TRANTT"] = "1.00"


def _referral(e: EpisodeRecord) -> None:
    e.xml1["MA_DOITUONG_KCB"] = "1.3"


CASES: list[tuple[str, Mutation, str, str]] = [
    ("S03-ONE-XML1", _second_xml1, "XML1", "TONG_HOP"),
    ("S03-MA_LK", _set("XML2", 0, MA_LK="OTHER"), "XML2", "MA_LK"),
    ("S03-STT", _set("XML2", 1, STT="7"), "XML2", "STT"),
    ("S02-TABLE-ALLOWED", _add_xml8, "XML8", "MA_LOAI_KCB"),
    ("F05-REQUIRED", _set("XML1", 0, HO_TEN=""), "XML1", "HO_TEN"),
    ("F06-FORMAT", _set("XML1", 0, NGAY_VAO="202613011200"), "XML1", "NGAY_VAO"),
    ("F08-IDS", _set("XML1", 0, SO_CCCD="12345"), "XML1", "SO_CCCD"),
    ("F09-CODES", _set("XML1", 0, MA_LOAI_KCB="99"), "XML1", "MA_LOAI_KCB"),
    ("X11-DATES", _set("XML2", 0, NGAY_YL="202001010000"), "XML2", "NGAY_YL"),
    ("X12-SO_NGAY_DTRI", _set("XML1", 0, SO_NGAY_DTRI="3"), "XML1", "SO_NGAY_DTRI"),
    ("X13-BEDS", _bed_over_one, "XML3", "SO_LUONG"),
    ("X14-ONE-CONSULT", _inpatient_two_consults, "XML3", "MA_NHOM"),
    ("X15-GROUP-FIELDS", _drop_performer, "XML3", "NGUOI_THUC_HIEN"),
    ("X16-RESULTS", _drop_report_text, "XML4", "MO_TA"),
    ("X17-DEMOGRAPHICS", _demographics, "XML14", "HO_TEN"),
    ("X18-CEILING", _ceiling, "XML3", "T_BHTT"),
    ("X19-CARD", _referral, "XML1", "MA_NOI_DI"),
    ("X20-MONEY", _set("XML2", 0, T_BHTT="1.00"), "XML2", "T_BHTT"),
    ("X21-BENEFIT", _set("XML2", 0, MUC_HUONG="95"), "XML2", "MUC_HUONG"),
    ("D23-DUPLICATES", _duplicate_drug, "XML2", "MA_THUOC"),
    ("W22-WARNINGS", _set("XML1", 0, CAN_NANG="250"), "XML1", "CAN_NANG"),
]


def test_the_valid_episode_has_no_finding(episode: EpisodeRecord, codes: CodeLists) -> None:
    assert check_episode(episode, codes) == []


def test_every_rule_has_a_case() -> None:
    assert {r.code for r in RULES} == {c[0] for c in CASES}


@pytest.mark.parametrize(("code", "mutate", "table", "field"), CASES, ids=[c[0] for c in CASES])
def test_one_violation_per_rule(episode: EpisodeRecord, codes: CodeLists, code: str,
                                mutate: Mutation, table: str, field: str) -> None:
    mutate(episode)
    found = [v for v in check_episode(episode, codes) if v.rule == code]
    assert found, f"{code} not reported"
    v = found[0]
    assert (v.ma_lk, v.table, v.field) == (episode.ma_lk, table, field)
    assert v.expected and v.message_vi and v.message_en
    assert v.message_vi != v.message_en


def test_money_violation_names_the_expected_amount(episode: EpisodeRecord,
                                                   codes: CodeLists) -> None:
    correct = episode.xml1["T_TONGCHI_BV"]
    episode.xml1["T_TONGCHI_BV"] = "0.01"
    found = [v for v in check_episode(episode, codes) if v.field == "T_TONGCHI_BV"]
    assert [(v.rule, v.expected, v.row) for v in found] == [("X20-MONEY", correct, 1)]


def test_code_valid_only_from_its_date(episode: EpisodeRecord, codes: CodeLists) -> None:
    # MA_LOAI_KCB 14 (telemedicine) exists from 01/08/2026 (QĐ 1804/2026).
    episode.xml1["MA_LOAI_KCB"] = "14"
    assert not [v for v in check_episode(episode, codes) if v.rule == "F09-CODES"]
    for name in ("XML1", "XML2", "XML3"):
        for r in episode.rows(name):
            for f in ("NGAY_VAO", "NGAY_RA", "NGAY_YL", "NGAY_TH_YL", "NGAY_KQ"):
                if r.get(f):
                    r[f] = "202603" + r[f][6:]
    found = [v for v in check_episode(episode, codes) if v.rule == "F09-CODES"]
    assert [v.field for v in found] == ["MA_LOAI_KCB"]


def test_a_control_character_is_a_format_violation_not_a_failed_build(
    episode: EpisodeRecord, codes: CodeLists
) -> None:
    episode.xml1["HO_TEN"] = "Lê\x01 Minh"
    episode.rows("XML3")[0]["TEN_DICH_VU"] = "Khám\x0b Nội"
    found = [(v.table, v.field) for v in check_episode(episode, codes) if v.rule == "F06-FORMAT"]
    assert found == [("XML1", "HO_TEN"), ("XML3", "TEN_DICH_VU")]
