"""Money rules (spec §7) with hand-computed cases: line formulas, co-payment 80/95/100 %, rounding,
other funding sources and the XML1 totals of the §7.7 worked example."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from claims import money, values


def test_worked_example_lines_and_totals() -> None:
    # §7.7: CT 536000 at 80 %; 2nd consultation 50600 × 30 %; drug 10 × 1234.567 with 50 % ratio.
    ct = money.split_line(*money.service_amounts(D(1), D(536000), D(536000), D(100), D(100)),
                          D(80))
    assert (ct.thanh_tien_bv, ct.t_bhtt, ct.t_bncct, ct.t_bntt) == (
        D("536000.00"), D("428800.00"), D("107200.00"), D("0.00"))
    consult = money.split_line(*money.service_amounts(D(1), D("50600"), D("50600"), D(30),
                                                      D(100)), D(80))
    assert (consult.thanh_tien_bv, consult.t_bhtt, consult.t_bncct) == (
        D("15180.00"), D("12144.00"), D("3036.00"))
    drug = money.split_line(*money.drug_amounts(D(10), D("1234.567"), D(50)), D(80))
    # 12345.67 × 50 % = 6172.835 → 6172.84 (half up); × 80 % = 4938.272 → 4938.27.
    assert (drug.thanh_tien_bv, drug.thanh_tien_bh, drug.t_bhtt, drug.t_bncct, drug.t_bntt) == (
        D("12345.67"), D("6172.84"), D("4938.27"), D("1234.57"), D("6172.83"))

    def row(s: money.LineSplit, group: str) -> dict[str, str]:
        return {"THANH_TIEN_BV": values.money(s.thanh_tien_bv),
                "THANH_TIEN_BH": values.money(s.thanh_tien_bh), "T_BHTT": values.money(s.t_bhtt),
                "T_BNCCT": values.money(s.t_bncct), "T_BNTT": values.money(s.t_bntt),
                "T_NGUONKHAC": "0.00", "MA_PTTT": "1", "MA_NHOM": group}

    t = money.totals([row(drug, "4")], [row(ct, "2"), row(consult, "13")])
    assert t.t_thuoc == D("12345.67") and t.t_vtyt == 0
    assert t.t_tongchi_bv == D("563525.67")
    assert t.t_tongchi_bh == D("557352.84")
    assert t.t_bncct == D("111470.57")
    assert t.t_bhtt == D("445882.27") == t.t_bhtt_gdv
    assert t.t_bntt == D("6172.83")


@pytest.mark.parametrize(("level", "fund", "copay"), [
    (D(80), D("80000.80"), D("20000.20")),   # 100001.00 × 80 % = 80000.80
    (D(95), D("95000.95"), D("5000.05")),    # 100001.00 × 95 % = 95000.95
    (D(100), D("100001.00"), D("0.00")),
])
def test_co_payment_levels(level: D, fund: D, copay: D) -> None:
    s = money.split_line(D("100001.00"), D("100001.00"), level)
    assert (s.t_bhtt, s.t_bncct, s.t_bntt) == (fund, copay, D(0))
    assert s.t_bhtt + s.t_bncct + s.t_bntt == s.thanh_tien_bv


def test_rounding_is_half_up_and_identity_holds_after_rounding() -> None:
    # 0.05 × 95 % = 0.0475 → 0.05; co-payment derived after rounding: 0.00.
    s = money.split_line(D("0.05"), D("0.05"), D(95))
    assert (s.t_bhtt, s.t_bncct) == (D("0.05"), D("0.00"))
    # 3 × 33.335 = 100.005 → 100.01 (half up, not banker's 100.00).
    assert money.drug_amounts(D(3), D("33.335"), D(100)) == (D("100.01"), D("100.01"))
    assert values.money(D("2.345")) == "2.35" and values.money(D(5)) == "5.00"
    assert values.dec3(D("1.500")) == "1.5" and values.dec3(D("536000")) == "536000"


def test_outside_scope_and_price_difference_go_to_self_pay() -> None:
    # Hospital price 120000, BHYT price 100000, 80 %: fund 80000, co-pay 20000, self-pay 20000.
    bv, bh = money.service_amounts(D(1), D(120000), D(100000), D(100), D(100))
    s = money.split_line(bv, bh, D(80))
    assert (s.t_bhtt, s.t_bncct, s.t_bntt) == (D("80000.00"), D("20000.00"), D("20000.00"))


def test_other_sources_deducted_self_pay_then_copay_then_fund() -> None:
    # BV 1000, BH 800 at 80 %: bntt0 200, bhtt0 640, bncct0 160.
    s = money.split_line(D(1000), D(800), D(80), D(150))
    assert (s.t_bntt, s.t_bncct, s.t_bhtt) == (D(50), D(160), D(640))
    s = money.split_line(D(1000), D(800), D(80), D(300))
    assert (s.t_bntt, s.t_bncct, s.t_bhtt) == (D(0), D(60), D(640))
    s = money.split_line(D(1000), D(800), D(80), D(400))
    assert (s.t_bntt, s.t_bncct, s.t_bhtt) == (D(0), D(0), D(600))
    assert s.t_bntt + s.t_bncct + s.t_bhtt + s.t_nguonkhac == D(1000)


def test_low_cost_threshold_is_fifteen_percent_of_base_salary() -> None:
    import datetime as dt

    assert money.low_cost_threshold(dt.date(2026, 1, 1)) == D(351000)
