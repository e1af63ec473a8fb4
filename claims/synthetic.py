"""Synthetic, self-consistent episodes for the demo, the tests and the benchmark.

Invented patients and prices (never real data); money follows claims/money.py so every
generated episode passes the pre-check rules. Pure: the caller passes the dates.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from claims import money, values
from claims.records.episode import EpisodeRecord, Row

FACILITY = "79001"
NAMES = ("Nguyễn Văn An", "Lương Thị Đào", "Trần Quốc Bảo", "Phạm Thị Hương", "Lê Minh Đức")
SERVICES = (
    ("18.0073.0041", "Chụp CLVT sọ não không tiêm thuốc cản quang [Không in phim]", "2",
     Decimal("536000")),
    ("18.0001.0001", "Chụp X-quang ngực thẳng [Không in phim]", "2", Decimal("65400")),
    ("22.0121.1370", "Tổng phân tích tế bào máu ngoại vi", "1", Decimal("46200")),
    ("02.1896.1778", "Điện tim thường", "3", Decimal("32800")),
    ("01.0001.1888", "Khám Nội", "13", Decimal("50600")),
)
MACHINE = {"1": "XN.1.79001.HH-001", "2": "CL.1.79001.SN-CT-0042", "3": "ĐT.1.79001.ECG-7"}


def _ts(value: dt.datetime) -> str:
    return values.format_datetime(value)


def drug_line(ma_lk: str, stt: int, at: dt.datetime, qty: Decimal, price: Decimal,
              ratio: Decimal, muc_huong: Decimal, ma_dich_vu: str = "") -> Row:
    bv, bh = money.drug_amounts(qty, price, ratio)
    s = money.split_line(bv, bh, muc_huong)
    return {
        "MA_LK": ma_lk, "STT": str(stt), "MA_THUOC": "40.17" if stt % 7 == 0 else "05.1234",
        "MA_NHOM": "4", "TEN_THUOC": "Paracetamol 500mg & <viên>", "DON_VI_TINH": "Viên",
        "HAM_LUONG": "500mg", "DUONG_DUNG": "1.01", "LIEU_DUNG": "1 viên/lần * 2 lần/ngày * 5 ngày",
        "SO_DANG_KY": "VD-12345-21", "TT_THAU": "57/QĐ-TTMS;G1;N1;2026", "PHAM_VI": "1",
        "TYLE_TT_BH": values.percent(ratio), "SO_LUONG": values.dec3(qty),
        "DON_GIA": values.dec3(price), "THANH_TIEN_BV": values.money(s.thanh_tien_bv),
        "THANH_TIEN_BH": values.money(s.thanh_tien_bh), "T_NGUONKHAC_NSNN": "0.00",
        "T_NGUONKHAC_VTNN": "0.00", "T_NGUONKHAC_VTTN": "0.00", "T_NGUONKHAC_CL": "0.00",
        "T_NGUONKHAC": "0.00", "MUC_HUONG": values.percent(muc_huong),
        "T_BNTT": values.money(s.t_bntt), "T_BNCCT": values.money(s.t_bncct),
        "T_BHTT": values.money(s.t_bhtt), "MA_KHOA": "K01", "MA_BAC_SI": "001234/BYT-CCHN",
        "MA_DICH_VU": ma_dich_vu, "NGAY_YL": _ts(at), "NGAY_TH_YL": _ts(at),
        "MA_PTTT": "1", "NGUON_CTRA": "1",
    }


def service_line(ma_lk: str, stt: int, at: dt.datetime, service: tuple[str, str, str, Decimal],
                 muc_huong: Decimal, tyle_tt_dv: Decimal = Decimal(100)) -> Row:
    code, name, group, price = service
    bv, bh = money.service_amounts(Decimal(1), price, price, tyle_tt_dv, Decimal(100))
    s = money.split_line(bv, bh, muc_huong)
    row: Row = {
        "MA_LK": ma_lk, "STT": str(stt), "MA_DICH_VU": code, "MA_NHOM": group,
        "TEN_DICH_VU": name, "DON_VI_TINH": "Lần", "PHAM_VI": "1", "SO_LUONG": "1",
        "DON_GIA_BV": values.dec3(price), "DON_GIA_BH": values.dec3(price),
        "TYLE_TT_DV": values.percent(tyle_tt_dv), "TYLE_TT_BH": "100",
        "THANH_TIEN_BV": values.money(s.thanh_tien_bv),
        "THANH_TIEN_BH": values.money(s.thanh_tien_bh), "MUC_HUONG": values.percent(muc_huong),
        "T_NGUONKHAC_NSNN": "0.00", "T_NGUONKHAC_VTNN": "0.00", "T_NGUONKHAC_VTTN": "0.00",
        "T_NGUONKHAC_CL": "0.00", "T_NGUONKHAC": "0.00", "T_BNTT": values.money(s.t_bntt),
        "T_BNCCT": values.money(s.t_bncct), "T_BHTT": values.money(s.t_bhtt),
        "MA_KHOA": "K42" if group == "2" else "K01", "MA_BAC_SI": "001234/BYT-CCHN",
        "MA_BENH": "S06.0", "NGAY_YL": _ts(at), "MA_PTTT": "1",
    }
    if group in MACHINE:
        row["NGUOI_THUC_HIEN"] = "004567/HCM-CCHN"
        row["NGAY_TH_YL"] = _ts(at + dt.timedelta(minutes=20))
        row["NGAY_KQ"] = _ts(at + dt.timedelta(minutes=60))
        row["MA_MAY"] = MACHINE[group]
    return row


def result_line(ma_lk: str, stt: int, service_row: Row) -> Row:
    return {
        "MA_LK": ma_lk, "STT": str(stt), "MA_DICH_VU": service_row["MA_DICH_VU"],
        "TEN_CHI_SO": service_row["TEN_DICH_VU"].split(" [")[0],
        "MO_TA": "Không thấy tổn thương chảy máu trong sọ. Hệ thống não thất cân đối.",
        "KET_LUAN": "Chưa phát hiện bất thường.", "NGAY_KQ": service_row["NGAY_KQ"],
        "MA_BS_DOC_KQ": "004567/HCM-CCHN",
    }


def episode(index: int, day: dt.date, *, lines: int = 20, muc_huong: Decimal = Decimal(80),
            rng: random.Random | None = None) -> EpisodeRecord:
    """Outpatient episode ``index`` closed on ``day`` with about ``lines`` cost lines."""
    rng = rng or random.Random(index)  # noqa: S311 - synthetic data, not security
    ma_lk = f"KB{day:%Y%m%d}{index:06d}"
    start = dt.datetime.combine(day, dt.time(7, 30)) + dt.timedelta(minutes=index % 60)
    xml2: list[Row] = []
    xml3: list[Row] = []
    xml4: list[Row] = []
    n_services = max(1, lines // 4)
    for i in range(n_services):
        svc = SERVICES[(index + i) % len(SERVICES)] if i else SERVICES[4]
        row = service_line(ma_lk, i + 1, start + dt.timedelta(minutes=5 * i), svc, muc_huong,
                           Decimal(100) if svc[2] != "13" or i == 0 else Decimal(30))
        if any(r["MA_DICH_VU"] == row["MA_DICH_VU"] for r in xml3):
            continue
        row["STT"] = str(len(xml3) + 1)
        xml3.append(row)
        if svc[2] == "2":
            xml4.append(result_line(ma_lk, len(xml4) + 1, row))
    for i in range(lines - len(xml3)):
        qty = Decimal(rng.randint(1, 30))
        price = Decimal(rng.randint(500, 500000)) / Decimal(1000) * Decimal(rng.choice((1, 10)))
        xml2.append(drug_line(ma_lk, i + 1, start + dt.timedelta(minutes=90 + i), qty, price,
                              Decimal(rng.choice((100, 100, 50))), muc_huong))
    end = start + dt.timedelta(hours=3)
    tot = money.totals(xml2, xml3)
    xml1: Row = {
        "MA_LK": ma_lk, "STT": "1", "MA_BN": f"BN{index:07d}", "HO_TEN": NAMES[index % 5],
        "SO_CCCD": f"{79_000_000_000 + index:012d}", "NGAY_SINH": "198503120000",
        "GIOI_TINH": str(1 + index % 2), "MA_QUOCTICH": "000", "MA_DANTOC": "01",
        "MA_NGHE_NGHIEP": "00000", "DIA_CHI": "12 Lê Lợi, Phường Bến Nghé, TP Hồ Chí Minh",
        "MATINH_CU_TRU": "79", "MAHUYEN_CU_TRU": "760", "MAXA_CU_TRU": "26734",
        "MA_THE_BHYT": f"DN4{79:02d}{7_900_000_000 + index:010d}", "MA_DKBD": FACILITY,
        "GT_THE_TU": f"{day.year}0101", "GT_THE_DEN": f"{day.year}1231",
        "LY_DO_VV": "Đau đầu", "CHAN_DOAN_VAO": "Theo dõi chấn thương đầu",
        "CHAN_DOAN_RV": "Chấn thương nội sọ", "MA_BENH_CHINH": "S06.0", "MA_BENH_KT": "R51",
        "MA_DOITUONG_KCB": "1.1", "NGAY_VAO": _ts(start), "NGAY_RA": _ts(end),
        "SO_NGAY_DTRI": "0", "KET_QUA_DTRI": "2", "MA_LOAI_RV": "1",
        "NAM_QT": str(day.year), "THANG_QT": str(day.month), "MA_LOAI_KCB": "01",
        "MA_KHOA": "K01", "MA_CSKCB": FACILITY, "CAN_NANG": "65.50", "MA_HSBA": f"HS{index:08d}",
    }
    for k, v in tot.as_fields().items():
        xml1[k] = values.money(v)
    tables = {"XML1": [xml1], "XML2": xml2, "XML3": xml3}
    if xml4:
        tables["XML4"] = xml4
    return EpisodeRecord(tables)
