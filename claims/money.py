"""Money rules of QĐ 130 (spec §7): line amounts, the fund / co-payment / self-pay split, totals.

All arithmetic is Decimal; line amounts are rounded to 2 dp (spec.ROUNDING) before they are
summed, and T_BNCCT is derived after rounding T_BHTT so that each line's identity holds (§7.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from claims import spec
from claims.values import round2, to_decimal

HUNDRED = Decimal(100)
_ZERO = Decimal(0)


class LineSplit(NamedTuple):
    """The amounts of one XML2/XML3 line (§7.1–§7.3). A NamedTuple, not a frozen dataclass:
    the pre-check makes one per cost line of every claim, and a frozen dataclass's __init__
    costs more than the line's arithmetic."""

    thanh_tien_bv: Decimal
    thanh_tien_bh: Decimal
    t_bhtt: Decimal
    t_bncct: Decimal
    t_bntt: Decimal
    t_nguonkhac: Decimal


def drug_amounts(so_luong: Decimal, don_gia: Decimal, tyle_tt_bh: Decimal
                 ) -> tuple[Decimal, Decimal]:
    """XML2 (THANH_TIEN_BV, THANH_TIEN_BH) per §7.1."""
    bv = round2(so_luong * don_gia)
    bh = round2(so_luong * don_gia * tyle_tt_bh / HUNDRED)
    return bv, bh


def service_amounts(so_luong: Decimal, don_gia_bv: Decimal, don_gia_bh: Decimal,
                    tyle_tt_dv: Decimal, tyle_tt_bh: Decimal) -> tuple[Decimal, Decimal]:
    """XML3 (THANH_TIEN_BV, THANH_TIEN_BH) per §7.1 (4750 correction; TYLE_TT_DV as a
    percentage: spec.TYLE_TT_DV_DIVISOR)."""
    dv = tyle_tt_dv / Decimal(spec.TYLE_TT_DV_DIVISOR)
    bv = round2(so_luong * don_gia_bv * dv)
    bh = round2(so_luong * don_gia_bh * dv * tyle_tt_bh / HUNDRED)
    return bv, bh


def split_line(bv: Decimal, bh: Decimal, muc_huong: Decimal,
               nguon_khac: Decimal = Decimal(0)) -> LineSplit:
    """Fund / co-payment / self-pay split of a line (§7.2), with patient-specific other-source
    support deducted first from self-pay, then co-payment, then the fund (§7.3 (a))."""
    bntt0 = bv - bh
    bhtt0 = round2(bh * muc_huong / HUNDRED)
    bncct0 = bh - bhtt0
    nk = nguon_khac
    t_bntt = max(_ZERO, bntt0 - nk)
    t_bncct = bncct0 if nk <= bntt0 else max(_ZERO, bncct0 - (nk - bntt0))
    t_bhtt = bhtt0 if nk <= bncct0 + bntt0 else bhtt0 - (nk - bncct0 - bntt0)
    return LineSplit(bv, bh, t_bhtt, t_bncct, t_bntt, nk)


@dataclass(frozen=True)
class Totals:
    """XML1 totals (§7.4)."""

    t_thuoc: Decimal
    t_vtyt: Decimal
    t_tongchi_bv: Decimal
    t_tongchi_bh: Decimal
    t_bntt: Decimal
    t_bncct: Decimal
    t_bhtt: Decimal
    t_nguonkhac: Decimal
    t_bhtt_gdv: Decimal

    def as_fields(self) -> dict[str, Decimal]:
        return {
            "T_THUOC": self.t_thuoc, "T_VTYT": self.t_vtyt, "T_TONGCHI_BV": self.t_tongchi_bv,
            "T_TONGCHI_BH": self.t_tongchi_bh, "T_BNTT": self.t_bntt, "T_BNCCT": self.t_bncct,
            "T_BHTT": self.t_bhtt, "T_NGUONKHAC": self.t_nguonkhac,
            "T_BHTT_GDV": self.t_bhtt_gdv,
        }


def totals(xml2: list[dict[str, str]], xml3: list[dict[str, str]]) -> Totals:
    """XML1 totals from the (already rounded) line values."""
    # One pass over the lines (the pre-check runs this for every claim); each sum still adds
    # the lines in order, starting from 0, so the results are those of summing field by field.
    zero = Decimal(0)
    thuoc = vtyt = bv = bh = bntt = bncct = nguonkhac = gdv = zero
    for r in xml2:
        thuoc += to_decimal(r.get("THANH_TIEN_BV", ""))
    for r in xml3:
        if r.get("MA_NHOM", "") in spec.VTYT_GROUPS:
            vtyt += to_decimal(r.get("THANH_TIEN_BV", ""))
    for r in xml2 + xml3:
        bv += to_decimal(r.get("THANH_TIEN_BV", ""))
        bh += to_decimal(r.get("THANH_TIEN_BH", ""))
        bntt += to_decimal(r.get("T_BNTT", ""))
        bncct += to_decimal(r.get("T_BNCCT", ""))
        nguonkhac += to_decimal(r.get("T_NGUONKHAC", ""))
        if r.get("MA_PTTT", "") == "1":
            gdv += to_decimal(r.get("T_BHTT", ""))
    return Totals(
        t_thuoc=thuoc, t_vtyt=vtyt, t_tongchi_bv=bv, t_tongchi_bh=bh, t_bntt=bntt,
        t_bncct=bncct, t_bhtt=bh - bncct, t_nguonkhac=nguonkhac, t_bhtt_gdv=gdv,
    )


def base_salary(on: object) -> int:
    """The base salary in force on a date (spec.BASE_SALARY, UNVERIFIED)."""
    value = spec.BASE_SALARY[0][1]
    for start, amount in spec.BASE_SALARY:
        if on >= start:  # type: ignore[operator]
            value = amount
    return value


def low_cost_threshold(on: object) -> Decimal:
    """In-scope total below which an entitled visit is paid at 100 % (§7.5, UNVERIFIED values)."""
    return Decimal(base_salary(on)) * spec.LOW_COST_RATIO_PERCENT / HUNDRED
