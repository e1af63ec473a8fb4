"""The check-in document XML0, CHI_TIEU_TRANG_THAI_KCB (spec §2.2, §4.0).

Built from the episode's XML1 and its first cost item: the earliest XML2/XML3 row by NGAY_YL
(a drug → MA_THUOC/TEN_THUOC, a supply → MA_VAT_TU/TEN_VAT_TU, else MA_DICH_VU/TEN_DICH_VU).
"""

from __future__ import annotations

from lxml import etree

from claims.build.document import build_table
from claims.records.episode import EpisodeRecord, Row
from claims.tables import XML0

_FROM_XML1 = (
    "MA_LK", "MA_BN", "HO_TEN", "SO_CCCD", "NGAY_SINH", "GIOI_TINH", "MA_DOITUONG_KCB",
    "NGAY_VAO", "NGAY_VAO_NOI_TRU", "LY_DO_VNT", "MA_LY_DO_VNT", "MA_LOAI_KCB", "MA_CSKCB",
)


def first_cost(episode: EpisodeRecord) -> tuple[str, Row] | None:
    """(table, row) of the earliest cost line, or None when the episode has no lines."""
    lines = [("XML2", r) for r in episode.rows("XML2")] + [("XML3", r)
                                                          for r in episode.rows("XML3")]
    if not lines:
        return None
    return min(lines, key=lambda item: item[1].get("NGAY_YL", ""))


def checkin_row(episode: EpisodeRecord, stt: int = 1) -> Row:
    """The TRANG_THAI_KCB row of ``episode`` (§4.0)."""
    x1 = episode.xml1
    row: Row = {k: x1.get(k, "") for k in _FROM_XML1}
    row["STT"] = str(stt)
    row["MA_THE_BHYT"] = x1.get("MA_THE_BHYT", "").split(";")[0]
    row["MA_DKBD"] = x1.get("MA_DKBD", "").split(";")[0]
    row["GT_THE_TU"] = x1.get("GT_THE_TU", "").split(";")[0]
    row["GT_THE_DEN"] = x1.get("GT_THE_DEN", "").split(";")[0]
    first = first_cost(episode)
    if first is not None:
        name, line = first
        if name == "XML2":
            row["MA_THUOC"], row["TEN_THUOC"] = line.get("MA_THUOC", ""), line.get("TEN_THUOC", "")
        elif line.get("MA_VAT_TU"):
            row["MA_VAT_TU"] = line.get("MA_VAT_TU", "")
            row["TEN_VAT_TU"] = line.get("TEN_VAT_TU", "")
        else:
            row["MA_DICH_VU"] = line.get("MA_DICH_VU", "")
            row["TEN_DICH_VU"] = line.get("TEN_DICH_VU", "")
        row["NGAY_YL"] = line.get("NGAY_YL", "")
    return row


def build_checkin(episodes: list[EpisodeRecord]) -> etree._Element:
    """CHI_TIEU_TRANG_THAI_KCB with one TRANG_THAI_KCB per episode and CHUKYDONVI last."""
    root = build_table(XML0, [checkin_row(e, i) for i, e in enumerate(episodes, 1)])
    etree.SubElement(root, "CHUKYDONVI")
    return root
