"""The table registry: every QĐ 130 table document with its root/list/row names (spec §2.4).

Release selection (QĐ 4750 vs QĐ 3176 XML13) is in claims/spec.py.
"""

from __future__ import annotations

from claims import fields as f
from claims import spec
from claims.tablespec import Field, Table


def _fields(raw: tuple[Field, ...]) -> tuple[Field, ...]:
    # MUC_HUONG: QĐ 1931/2026 length and decimals (spec §2.5, §4.2 #27) — see spec.py.
    return tuple(
        Field(x.name, x.kind, spec.MUC_HUONG_MAX_LENGTH, x.requirement)
        if x.name == "MUC_HUONG" else x
        for x in raw
    )


def _xml13_3176(raw: tuple[Field, ...]) -> tuple[Field, ...]:
    """QĐ 3176 XML13 (spec §4.7): two renames, three removals, TINH_TRANG_CT added."""
    renamed = {"MA_NOI_DI": "MA_CSKCB_DI", "MA_NOI_DEN": "MA_CSKCB_DEN"}
    removed = {"TEN_DICH_VU", "TEN_THUOC", "PP_DIEU_TRI"}
    out: list[Field] = []
    for x in raw:
        if x.name in removed:
            continue
        if x.name in renamed:
            x = Field(renamed[x.name], x.kind, x.max_length, x.requirement)
        if x.name == "MA_LOAI_RV":
            out.append(Field("TINH_TRANG_CT", "text", None, "O"))
        out.append(x)
    return tuple(out)


XML0 = Table("XML0", "CHI_TIEU_TRANG_THAI_KCB", "DSACH_TRANG_THAI_KCB", "TRANG_THAI_KCB",
             f.XML0_FIELDS, True)
XML1 = Table("XML1", "TONG_HOP", None, None, _fields(f.XML1_FIELDS), True)
XML2 = Table("XML2", "CHITIEU_CHITIET_THUOC", "DSACH_CHI_TIET_THUOC", "CHI_TIET_THUOC",
             _fields(f.XML2_FIELDS), True)
XML3 = Table("XML3", "CHITIEU_CHITIET_DVKT_VTYT", "DSACH_CHI_TIET_DVKT", "CHI_TIET_DVKT",
             _fields(f.XML3_FIELDS), True)
XML4 = Table("XML4", "CHITIEU_CHITIET_DICHVUCANLAMSANG", "DSACH_CHI_TIET_CLS", "CHI_TIET_CLS",
             f.XML4_FIELDS, True)
XML5 = Table("XML5", "CHITIEU_CHITIET_DIENBIENLAMSANG", "DSACH_CHI_TIET_DIEN_BIEN_BENH",
             "CHI_TIET_DIEN_BIEN_BENH", f.XML5_FIELDS, True)
XML6 = Table("XML6", "CHI_TIEU_HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
             "DSACH_HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
             "HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS", f.XML6_FIELDS, False)
XML7 = Table("XML7", "CHI_TIEU_DU_LIEU_GIAY_RA_VIEN", None, None, f.XML7_FIELDS, False)
XML8 = Table("XML8", "CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN", None, None, f.XML8_FIELDS, False)
XML9 = Table("XML9", "CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH", "DSACH_GIAYCHUNGSINH",
             "DU_LIEU_GIAY_CHUNG_SINH", f.XML9_FIELDS, False)
XML10 = Table("XML10", "CHI_TIEU_DU_LIEU_GIAY_NGHI_DUONG_THAI", None, None, f.XML10_FIELDS,
              False)
XML11 = Table("XML11", "CHI_TIEU_DU_LIEU_GIAY_CHUNG_NHAN_NGHI_VIEC_HUONG_BAO_HIEM_XA_HOI", None,
              None, f.XML11_FIELDS, False)
XML13_4750 = Table("XML13", "CHI_TIEU_GIAYCHUYENTUYEN", None, None, f.XML13_FIELDS, False)
XML13_3176 = Table("XML13", "CHI_TIEU_GIAYCHUYENTUYEN", None, None,
                   _xml13_3176(f.XML13_FIELDS), False)
XML14 = Table("XML14", "CHI_TIEU_GIAYHEN_KHAMLAI", None, None, f.XML14_FIELDS, False)
XML15 = Table("XML15", "CHI_TIEU_DIEUTRI_BENHLAO", "DSACH_CHITIET_DIEUTRI_BENHLAO",
              "CHITIET_DIEUTRI_BENHLAO", f.XML15_FIELDS, True)

# Envelope order of LOAIHOSO (spec §2.3): XML1 … XML11, XML13, XML14, XML15; never XML12.
CLAIM_TABLE_NAMES: tuple[str, ...] = (
    "XML1", "XML2", "XML3", "XML4", "XML5", "XML6", "XML7", "XML8", "XML9", "XML10", "XML11",
    "XML13", "XML14", "XML15",
)
_BY_NAME_4750: dict[str, Table] = {
    t.name: t for t in (XML1, XML2, XML3, XML4, XML5, XML6, XML7, XML8, XML9, XML10, XML11,
                        XML13_4750, XML14, XML15)
}


def table(name: str, release: str = spec.DEFAULT_RELEASE) -> Table:
    """The table called ``name`` ("XML1"…) in spec release ``release`` ("4750" or "3176")."""
    if name == "XML0":
        return XML0
    if name == "XML13" and release == "3176":
        return XML13_3176
    return _BY_NAME_4750[name]


def all_tables() -> tuple[Table, ...]:
    """Every distinct table document (both XML13 variants), for XSD generation."""
    return (XML0, *_BY_NAME_4750.values(), XML13_3176)


def root_to_table(root: str) -> str | None:
    """Table name for a document root element, or None."""
    for t in all_tables():
        if t.root == root:
            return t.name
    return None
