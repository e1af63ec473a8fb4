"""Text forms of QĐ 130 values (spec §2.5): dates, money, quantities, percentages.

Records keep every value as the exact text that goes into the XML (codes keep their leading
zeros; money is a Decimal rendered with ``.``); this module converts between Decimal / datetime
and those texts and checks a text against its field kind.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation
from typing import TypeVar

from claims import spec
from claims.tablespec import Field

CENT = Decimal("0.01")
MILLI = Decimal("0.001")

_INT = re.compile(r"^\d+$")
# Characters an XML 1.0 document cannot carry (control characters other than tab, LF and CR,
# surrogates, U+FFFE/U+FFFF): a value holding one could not be built into a file.
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
XML_UNSAFE_MESSAGE = ("chứa ký tự điều khiển không dùng được trong XML",
                      "contains a control character that XML cannot carry")
_DEC = {2: re.compile(r"^\d+(\.\d{1,2})?$"), 3: re.compile(r"^\d+(\.\d{1,3})?$")}
_DATE = re.compile(r"^\d{8}$")
_DATETIME = re.compile(r"^\d{12}$")


def round2(value: Decimal) -> Decimal:
    """Round a money amount to 2 dp with the spec's rounding mode (§7.6)."""
    try:
        return value.quantize(CENT, rounding=spec.ROUNDING)
    except InvalidOperation:
        if not value.is_finite():
            raise
        # More digits than the default 28-digit context holds (a garbled or hostile file): the
        # rules must report the value, not stop the whole run.
        return value.quantize(CENT, rounding=spec.ROUNDING,
                              context=Context(prec=value.adjusted() + 4))


def money(value: Decimal) -> str:
    """Money text: exactly two decimals, '.' separator, no sign (§2.5)."""
    return f"{round2(value):.{spec.MONEY_DECIMALS}f}"


def dec3(value: Decimal) -> str:
    """Quantity / unit-price text: up to three decimals, trailing zeros dropped (§2.5)."""
    q = value.quantize(MILLI, rounding=spec.ROUNDING)
    text = f"{q:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent(value: Decimal) -> str:
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


_T = TypeVar("_T")


def text_memo(limit: int) -> Callable[[Callable[[str], _T]], Callable[[str], _T]]:
    """Remember ``fn(text)`` for up to ``limit`` texts, then start afresh.

    For pure functions of a value text that the rules call for every field of every line
    (a claim's amounts, rates and date-times repeat across lines and files). A plain dict
    look-up: functools.lru_cache's bookkeeping costs more than converting a short text.
    Exceptions are not remembered.
    """
    def wrap(fn: Callable[[str], _T]) -> Callable[[str], _T]:
        seen: dict[str, _T] = {}

        def memo(text: str) -> _T:
            try:
                return seen[text]
            except KeyError:
                value = fn(text)
                if len(seen) >= limit:
                    seen.clear()
                seen[text] = value
                return value
        return memo
    return wrap


_ZERO = Decimal(0)


@text_memo(16384)
def to_decimal(text: str) -> Decimal:
    """Decimal of a number text ('' counts as 0); Decimals are immutable, so shared."""
    if not text:
        return _ZERO
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc


def parse_datetime(text: str) -> dt.datetime:
    """yyyyMMddHHmm → datetime (local time, naive); ValueError if not a real date-time.

    Hand-rolled because it runs for every date of every line (strptime is ~20x slower).
    """
    if len(text) != 12 or not text.isdigit() or not text.isascii():
        raise ValueError(f"not a yyyyMMddHHmm date-time: {text!r}")
    return dt.datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                       int(text[10:12]))


def parse_date(text: str) -> dt.date:
    """yyyyMMdd → date; ValueError if not a real date."""
    if len(text) != 8 or not text.isdigit() or not text.isascii():
        raise ValueError(f"not a yyyyMMdd date: {text!r}")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def format_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y%m%d%H%M")


@text_memo(8192)
def _real_date(text: str) -> bool:
    try:
        parse_date(text)
    except ValueError:
        return False
    return True


@text_memo(8192)
def _real_datetime(text: str) -> bool:
    try:
        parse_datetime(text)
    except ValueError:
        return False
    return True


def _birth_ok(text: str) -> bool:
    # NGAY_SINH (§4.1 #6): unknown hour/minute → 0000; unknown day+month → 0000.
    if not _DATETIME.match(text):
        return False
    year, month, day, hm = text[:4], text[4:6], text[6:8], text[8:]
    if month + day == "0000":
        return int(year) > 1800 and (hm == "0000" or _real_datetime(f"{year}0101{hm}"))
    return _real_datetime(text)


@text_memo(1024)
def _whole_percent(text: str) -> bool:
    # A whole number 0–100 is a well-formed percentage with 0 or MUC_HUONG_DECIMALS places.
    return bool(_INT.match(text)) and int(text) <= 100


# Checks that accept only what format_problem accepts for these kinds (length aside): the
# rules try them first and ask format_problem only when one fails (the common kinds of the
# ~1,000 values of a claim, without format_problem's dispatch).
_QUICK: dict[str, Callable[[str], object]] = {
    "int": _INT.match, "money": _DEC[2].match, "dec3": _DEC[3].match,
    "date": _real_date, "datetime": _real_datetime, "percent": _whole_percent,
}


def well_formed_quick(fld: Field, text: str) -> bool:
    """True only when format_problem(fld, text) is None; False means "ask format_problem"."""
    check = _QUICK.get(fld.kind)
    return check is not None and (fld.max_length is None or len(text) <= fld.max_length) \
        and bool(check(text))


def format_problem(fld: Field, text: str) -> tuple[str, str] | None:
    """None if ``text`` is a well-formed value of ``fld``'s kind, else (vi, en) messages.

    Empty text is accepted here (requiredness is a separate rule); length is checked too.
    """
    if text == "":
        return None
    if XML_UNSAFE.search(text):
        return XML_UNSAFE_MESSAGE
    if fld.max_length is not None and len(text) > fld.max_length:
        return (f"dài quá {fld.max_length} ký tự", f"longer than {fld.max_length} characters")
    kind = fld.kind
    ok = True
    expected_en = ""
    expected_vi = ""
    if kind == "int":
        ok, expected_en, expected_vi = bool(_INT.match(text)), "an integer", "số nguyên"
    elif kind == "money":
        ok, expected_en, expected_vi = bool(_DEC[2].match(text)), "a number with ≤ 2 decimals", \
            "số có tối đa 2 chữ số thập phân"
    elif kind == "dec3":
        ok, expected_en, expected_vi = bool(_DEC[3].match(text)), "a number with ≤ 3 decimals", \
            "số có tối đa 3 chữ số thập phân"
    elif kind == "percent":
        places = spec.MUC_HUONG_DECIMALS if fld.name == "MUC_HUONG" else 0
        pattern = _INT if places == 0 else _DEC[places]
        ok = bool(pattern.match(text)) and Decimal(text) <= 100
        expected_en, expected_vi = "a percentage 0–100", "tỷ lệ phần trăm 0–100"
    elif kind == "date":
        ok, expected_en, expected_vi = _real_date(text), "a date yyyyMMdd", "ngày dạng yyyyMMdd"
    elif kind == "datetime":
        ok = _real_datetime(text)
        expected_en, expected_vi = "a date-time yyyyMMddHHmm", "thời gian dạng yyyyMMddHHmm"
    elif kind == "birth":
        ok = _birth_ok(text)
        expected_en, expected_vi = "a birth date-time yyyyMMddHHmm", "ngày sinh dạng yyyyMMddHHmm"
    elif kind == "date_or_datetime":
        ok = _real_date(text) or _real_datetime(text)
        expected_en, expected_vi = "yyyyMMdd or yyyyMMddHHmm", "yyyyMMdd hoặc yyyyMMddHHmm"
    elif kind == "datelist":
        ok = all(_real_date(p) for p in text.split(";"))
        expected_en, expected_vi = "dates yyyyMMdd joined by ';'", "các ngày yyyyMMdd nối bằng ';'"
    if ok:
        return None
    return (f"không đúng định dạng: cần {expected_vi}", f"badly formed: expected {expected_en}")
