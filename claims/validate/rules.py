"""The assessment pre-check rules of the spec (§8.1–§8.3), run on an EpisodeRecord.

Each rule is a function ``(ctx) -> list[Violation]`` registered with its code, the spec item it
implements and its stage: "record" rules run at import (the HIS's data must be right),
"claim" rules run before a file leaves (they need the PACS/report data too). Messages are in
Vietnamese and English and every violation names episode, table, row, field, rule and the
expected value.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from claims import money, spec, values
from claims.codes import CodeLists
from claims.records.episode import EpisodeRecord, Row
from claims.tables import CLAIM_TABLE_NAMES, table
from claims.tablespec import Field, Table
from claims.validate.schema import XSD_COMPLETE_KINDS
from claims.validate.violations import Severity, Violation

Stage = Literal["record", "claim"]


@dataclass
class Context:
    episode: EpisodeRecord
    codes: CodeLists

    def __post_init__(self) -> None:
        self.release = self.episode.release

    @property
    def ma_lk(self) -> str:
        return self.episode.ma_lk

    @functools.cached_property
    def numbered(self) -> dict[str, list[tuple[int, Row]]]:
        """Table → (row number, row) of its rows, for the tables that have rows, in envelope
        order; rules never change rows, so the numbers are worked out once."""
        out: dict[str, list[tuple[int, Row]]] = {}
        for name in CLAIM_TABLE_NAMES:
            rows = self.episode.rows(name)
            if rows:
                out[name] = [(_rowno(r, i), r) for i, r in enumerate(rows)]
        return out

    @functools.cached_property
    def all_rows(self) -> list[tuple[str, int, Row]]:
        """(table, row number, row) of every row in envelope order."""
        return [(name, no, r) for name, rows in self.numbered.items() for no, r in rows]

    def rows_of(self, name: str) -> list[tuple[int, Row]]:
        return self.numbered.get(name, [])

    def fields_in(self, name: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
        """The ``candidates`` a row of ``name`` can hold. A table read from a document that
        passed its XSD has exactly the table's fields, so the others need not be looked up
        (they read as empty); any other row may carry any key."""
        if name in self.episode.schema_valid:
            return _present(name, self.release, candidates)
        return candidates

    @functools.cached_property
    def _known_codes(self) -> dict[tuple[str, str], bool]:
        return {}

    def code_valid(self, list_name: str, code: str) -> bool:
        """``code`` is in ``list_name`` on the episode's date (each pair looked up once)."""
        key = (list_name, code)
        known = self._known_codes.get(key)
        if known is None:
            known = self._known_codes[key] = \
                self.codes[list_name].entry(code, self.day) is not None
        return known

    @functools.cached_property
    def day(self) -> dt.date:
        """The episode's reference date for code-list validity (end of care, else today's)."""
        text = self.episode.xml1.get("NGAY_RA", "")
        try:
            return values.parse_datetime(text).date()
        except ValueError:
            return dt.date.today()

    def v(self, tbl: str, row: int | None, fld: str, rule: str, expected: str, vi: str, en: str,
          severity: Severity = "error") -> Violation:
        return Violation(self.ma_lk, tbl, row, fld, rule, expected, vi, en, severity)


RuleFn = Callable[[Context], list[Violation]]


@dataclass(frozen=True)
class Rule:
    code: str
    section: str
    stage: Stage
    title: str
    check: RuleFn


RULES: list[Rule] = []


def rule(code: str, section: str, stage: Stage, title: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        RULES.append(Rule(code, section, stage, title, fn))
        return fn
    return register


def _rowno(row: Row, index: int) -> int:
    stt = row.get("STT", "")
    return int(stt) if stt.isdigit() else index + 1


@dataclass(frozen=True)
class _Shape:
    """What the field rules need of one table, worked out once per process (the rules run
    for every row of every episode)."""

    names: frozenset[str]
    required: tuple[str, ...]
    # Fields whose text can be badly formed: a kind other than free text, or a length bound.
    bounded_text: tuple[tuple[Field, int], ...]
    typed: tuple[Field, ...]
    beyond_xsd: tuple[Field, ...]  # typed fields the table's XSD does not check in full


@functools.cache
def _present(name: str, release: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    names = table(name, release).field_names
    return tuple(c for c in candidates if c in names)


@functools.cache
def _shape(name: str, release: str) -> _Shape:
    tbl = table(name, release)
    return _Shape(
        frozenset(tbl.field_names),
        tuple(f.name for f in tbl.fields if f.requirement == "R"),
        tuple((f, f.max_length) for f in tbl.fields
              if f.kind == "text" and f.max_length is not None),
        tuple(f for f in tbl.fields if f.kind != "text"),
        tuple(f for f in tbl.fields if f.kind not in XSD_COMPLETE_KINDS),
    )


@values.text_memo(8192)
def _dt(text: str) -> dt.datetime | None:
    # Remembered: the same date-times are read by several rules (datetimes are immutable).
    try:
        return values.parse_datetime(text) if len(text) == 12 else None
    except ValueError:
        return None


# --- §8.1 structure ---------------------------------------------------------------------------

@rule("S03-ONE-XML1", "§8.1.3", "record", "exactly one XML1 record")
def one_xml1(ctx: Context) -> list[Violation]:
    n = len(ctx.episode.rows("XML1"))
    if n == 1:
        return []
    return [ctx.v("XML1", None, "TONG_HOP", "S03-ONE-XML1", "1",
                  f"có {n} bản ghi TONG_HOP", f"{n} TONG_HOP records")]


@rule("S03-MA_LK", "§8.1.3", "record", "every row carries the XML1 MA_LK")
def same_ma_lk(ctx: Context) -> list[Violation]:
    out = []
    for name, no, r in ctx.all_rows:
        if name != "XML1" and r.get("MA_LK", "") != ctx.ma_lk:
            out.append(ctx.v(name, no, "MA_LK", "S03-MA_LK", ctx.ma_lk,
                             "MA_LK khác với XML1", "MA_LK differs from XML1"))
    return out


@rule("S03-STT", "§8.1.3", "record", "STT numbered 1..n without gaps per table")
def stt_sequence(ctx: Context) -> list[Violation]:
    out = []
    for name in CLAIM_TABLE_NAMES:
        tbl = table(name, ctx.release)
        rows = ctx.episode.rows(name)
        if not tbl.multi_row or "STT" not in tbl.field_names:
            continue
        for i, r in enumerate(rows):
            if r.get("STT", "") != str(i + 1):
                out.append(ctx.v(name, i + 1, "STT", "S03-STT", str(i + 1),
                                 "STT phải tăng liên tục từ 1",
                                 "STT must run 1..n without gaps"))
    return out


@rule("S02-TABLE-ALLOWED", "§2.3", "record", "XML5/XML8 only for the visit types that need them")
def table_allowed(ctx: Context) -> list[Violation]:
    kcb = ctx.episode.xml1.get("MA_LOAI_KCB", "")
    out = []
    if ctx.episode.rows("XML8") and kcb not in spec.XML8_VISIT_TYPES:
        out.append(ctx.v("XML8", None, "MA_LOAI_KCB", "S02-TABLE-ALLOWED",
                         ",".join(sorted(spec.XML8_VISIT_TYPES)),
                         "XML8 chỉ gửi khi MA_LOAI_KCB là 03, 04, 06",
                         "XML8 is sent only for MA_LOAI_KCB 03, 04, 06"))
    if ctx.episode.rows("XML5") and kcb not in spec.XML5_VISIT_TYPES:
        out.append(ctx.v("XML5", None, "MA_LOAI_KCB", "S02-TABLE-ALLOWED",
                         ",".join(sorted(spec.XML5_VISIT_TYPES)),
                         "XML5 chỉ gửi cho đợt điều trị", "XML5 is sent only for treatment"))
    return out


# --- §8.2 field level -----------------------------------------------------------------------

_EMPTY = itertools.repeat("")  # the default of every r.get in a map()


@rule("F05-REQUIRED", "§8.2.5", "record", "required fields present")
def required(ctx: Context) -> list[Violation]:
    out = []
    for name, rows in ctx.numbered.items():
        fields = _shape(name, ctx.release).required
        for no, r in rows:
            present = tuple(map(r.get, fields, _EMPTY))
            # One pass in C over the row's required values (strip() returns a text without
            # surrounding whitespace itself); field by field only when one is empty.
            if not all(map(str.strip, present)):
                for f, value in zip(fields, present, strict=True):
                    if not value.strip():
                        out.append(ctx.v(name, no, f, "F05-REQUIRED", "a value",
                                         "thiếu trường bắt buộc", "required field is empty"))
    return out


def _report_formats(ctx: Context, out: list[Violation], name: str, no: int,
                    field_names: tuple[str, ...], found: list[tuple[Field, tuple[str, str]]]
                    ) -> None:
    """F06 findings of one row, in the table's field order (as they appear in the document)."""
    if found:
        order = {n: i for i, n in enumerate(field_names)}
        for f, problem in sorted(found, key=lambda item: order[item[0].name]):
            exp = f"{f.kind}" + (f" ≤{f.max_length}" if f.max_length else "")
            out.append(ctx.v(name, no, f.name, "F06-FORMAT", exp, problem[0], problem[1]))


@rule("F06-FORMAT", "§8.2.6–7", "record", "lengths, numbers, percentages and dates well formed")
def formats(ctx: Context) -> list[Violation]:
    out: list[Violation] = []
    for name, rows in ctx.numbered.items():
        tbl = table(name, ctx.release)
        shape = _shape(name, ctx.release)
        if name in ctx.episode.schema_valid:
            # The rows passed their table's XSD: lengths, numbers, unknown elements and
            # characters are checked; what the XSD cannot say is checked here.
            for no, r in rows:
                _beyond_xsd_formats(ctx, out, name, no, r, tbl, shape)
        else:
            for no, r in rows:
                _all_formats(ctx, out, name, no, r, tbl, shape)
    return out


def _typed_problems(fields: Iterable[Field], r: Row) -> list[tuple[Field, tuple[str, str]]]:
    """Format problems of the row's non-empty values of ``fields`` (quick check first)."""
    found: list[tuple[Field, tuple[str, str]]] = []
    for f in fields:
        value = r.get(f.name, "")
        if not value or values.well_formed_quick(f, value):
            continue
        problem = values.format_problem(f, value)
        if problem:
            found.append((f, problem))
    return found


def _beyond_xsd_formats(ctx: Context, out: list[Violation], name: str, no: int, r: Row,
                        tbl: Table, shape: _Shape) -> None:
    found = _typed_problems(shape.beyond_xsd, r)
    _report_formats(ctx, out, name, no, tbl.field_names, found)


def _all_formats(ctx: Context, out: list[Violation], name: str, no: int, r: Row,
                 tbl: Table, shape: _Shape) -> None:
    found: list[tuple[Field, tuple[str, str]]] = []
    for f, limit in shape.bounded_text:
        value = r.get(f.name, "")
        problem = values.format_problem(f, value) if len(value) > limit else None
        if problem:
            found.append((f, problem))
    found += _typed_problems(shape.typed, r)
    if values.XML_UNSAFE.search("".join(r.values())):
        # Short text fields skip format_problem above; one search per row finds them.
        flagged = {f.name for f, _ in found}
        found += [(f, values.XML_UNSAFE_MESSAGE) for f in tbl.fields
                  if f.name not in flagged and values.XML_UNSAFE.search(r.get(f.name, ""))]
    _report_formats(ctx, out, name, no, tbl.field_names, found)
    if r.keys() - shape.names:
        for u in sorted(r.keys() - shape.names):
            out.append(ctx.v(name, no, u, "F06-FORMAT", "a field of " + name,
                             "trường không có trong bảng", "field is not part of the table"))


_ID_CHECKS: dict[str, tuple[re.Pattern[str], str]] = {
    "SO_CCCD": (spec.SO_CCCD_RE, "9 or 12 digits, or 1 letter + 7 digits"),
    "MA_TTDV": (spec.MA_TTDV_RE, "10 digits"),
    "MA_CSKCB": (spec.FACILITY_RE, "5 characters"),
    "MA_NOI_DI": (spec.FACILITY_RE, "5 characters"),
    "MA_NOI_DEN": (spec.FACILITY_RE, "5 characters"),
}
_ID_FIELDS = tuple(_ID_CHECKS)
_CARD_FIELDS = ("MA_THE_BHYT", "MA_DKBD")


@rule("F08-IDS", "§8.2.8", "record", "identity, card and facility code formats")
def identifiers(ctx: Context) -> list[Violation]:
    out: list[Violation] = []
    for name, rows in ctx.numbered.items():
        ids, cards = ctx.fields_in(name, _ID_FIELDS), ctx.fields_in(name, _CARD_FIELDS)
        for no, r in rows:
            _identifier_problems(ctx, out, name, no, r, ids, cards)
    return out


def _identifier_problems(ctx: Context, out: list[Violation], name: str, no: int, r: Row,
                         ids: tuple[str, ...], cards: tuple[str, ...]) -> None:
    for fld in ids:
        value = r.get(fld, "")
        pattern, expected = _ID_CHECKS[fld]
        if value and not pattern.match(value):
            out.append(ctx.v(name, no, fld, "F08-IDS", expected,
                             "sai định dạng mã", "badly formed code"))
    for fld in cards:
        value = r.get(fld, "")
        pattern = spec.CARD_RE if fld == "MA_THE_BHYT" else spec.FACILITY_RE
        for part in value.split(";") if value else []:
            if not pattern.match(part):
                exp = "15-character card number" if fld == "MA_THE_BHYT" else "5 characters"
                out.append(ctx.v(name, no, fld, "F08-IDS", exp,
                                 "sai định dạng mã thẻ/nơi ĐKBĐ", "badly formed card code"))


_CODED: tuple[tuple[str, str], ...] = (
    ("MA_LOAI_KCB", "ma_loai_kcb"), ("MA_DOITUONG_KCB", "ma_doituong_kcb"),
    ("KET_QUA_DTRI", "ket_qua_dtri"), ("MA_LOAI_RV", "ma_loai_rv"), ("GIOI_TINH", "gioi_tinh"),
    ("MA_NHOM", "ma_nhom"), ("PHAM_VI", "pham_vi"), ("MA_PTTT", "ma_pttt"),
    ("NGUON_CTRA", "nguon_ctra"), ("PP_VO_CAM", "pp_vo_cam"), ("MA_KHUVUC", "ma_khuvuc"),
    ("MA_XANG_DAU", "ma_xang_dau"),
)
_CODED_LISTS = dict(_CODED)
_CODED_FIELDS = tuple(_CODED_LISTS)
_ICD = re.compile(r"^[A-Z]\d{2}(\.\d{1,2})?$")
_ICD_FIELDS = ("MA_BENH_CHINH", "MA_BENH_KT")


@rule("F09-CODES", "§8.2.9", "record", "codes in their lists, valid on the episode's date")
def code_lists(ctx: Context) -> list[Violation]:
    out: list[Violation] = []
    for name, rows in ctx.numbered.items():
        if name in ("XML6", "XML9", "XML15"):
            continue  # their codes (GIOI_TINH_CON, TB/HIV codes) have their own lists
        coded, icd = ctx.fields_in(name, _CODED_FIELDS), ctx.fields_in(name, _ICD_FIELDS)
        for no, r in rows:
            _code_problems(ctx, out, name, no, r, coded, icd)
    return out


def _code_problems(ctx: Context, out: list[Violation], name: str, no: int, r: Row,
                   coded: tuple[str, ...], icd: tuple[str, ...]) -> None:
    day = ctx.day
    for fld in coded:
        value = r.get(fld, "")
        list_name = _CODED_LISTS[fld]
        if value and not ctx.code_valid(list_name, value):
            valid = ",".join(ctx.codes[list_name].valid_codes(day))
            out.append(ctx.v(name, no, fld, "F09-CODES", f"one of {valid} on {day}",
                             f"mã không có trong danh mục hiệu lực ngày {day:%d/%m/%Y}",
                             f"code not in the list valid on {day}"))
    if not icd:
        return
    main = r.get("MA_BENH_CHINH", "")
    if main and not _ICD.match(main):
        out.append(ctx.v(name, no, "MA_BENH_CHINH", "F09-CODES", "one ICD-10 code",
                         "mã ICD-10 không hợp lệ", "not an ICD-10 code"))
    secondary = [c for c in r.get("MA_BENH_KT", "").split(";") if c]
    if len(secondary) > spec.MAX_SECONDARY_ICD:
        out.append(ctx.v(name, no, "MA_BENH_KT", "F09-CODES",
                         f"≤ {spec.MAX_SECONDARY_ICD} codes",
                         "quá 12 mã bệnh kèm theo", "more than 12 secondary codes"))
    for c in secondary:
        if not _ICD.match(c):
            out.append(ctx.v(name, no, "MA_BENH_KT", "F09-CODES", "ICD-10 codes joined by ;",
                             f"mã ICD-10 không hợp lệ: {c}", f"not an ICD-10 code: {c}"))


# --- §8.3 cross-field and cross-table -------------------------------------------------------

@rule("X11-DATES", "§8.3.11", "record", "NGAY_VAO ≤ NGAY_VAO_NOI_TRU ≤ NGAY_RA; "
      "NGAY_YL ≤ NGAY_TH_YL ≤ NGAY_KQ within admission–discharge; NGAY_HEN_KL ≥ NGAY_RA")
def date_order(ctx: Context) -> list[Violation]:
    x1 = ctx.episode.xml1
    vao, ra, vnt = _dt(x1.get("NGAY_VAO", "")), _dt(x1.get("NGAY_RA", "")), \
        _dt(x1.get("NGAY_VAO_NOI_TRU", ""))
    out: list[Violation] = []
    if vao and ra and vao > ra:
        out.append(ctx.v("XML1", 1, "NGAY_RA", "X11-DATES", f"≥ NGAY_VAO {x1['NGAY_VAO']}",
                         "ngày ra trước ngày vào", "discharge before admission"))
    if vnt and ((vao and vnt < vao) or (ra and vnt > ra)):
        out.append(ctx.v("XML1", 1, "NGAY_VAO_NOI_TRU", "X11-DATES", "in [NGAY_VAO, NGAY_RA]",
                         "ngày vào nội trú ngoài khoảng vào–ra",
                         "inpatient admission outside admission–discharge"))
    if not (vao and ra):
        return out
    for name in ("XML2", "XML3"):
        for no, r in ctx.rows_of(name):
            yl, th, kq = _dt(r.get("NGAY_YL", "")), _dt(r.get("NGAY_TH_YL", "")), \
                _dt(r.get("NGAY_KQ", ""))
            window = f"[{x1['NGAY_VAO']}, {x1['NGAY_RA']}]"
            if yl and not vao <= yl <= ra:
                out.append(ctx.v(name, no, "NGAY_YL", "X11-DATES", window,
                                 "y lệnh ngoài thời gian điều trị", "order outside the episode"))
            if yl and th and th < yl:
                out.append(ctx.v(name, no, "NGAY_TH_YL", "X11-DATES", f"≥ NGAY_YL {r['NGAY_YL']}",
                                 "thực hiện trước y lệnh", "performed before it was ordered"))
            if kq and th and kq < th:
                out.append(ctx.v(name, no, "NGAY_KQ", "X11-DATES",
                                 f"≥ NGAY_TH_YL {r['NGAY_TH_YL']}",
                                 "kết quả trước khi thực hiện", "result before performance"))
            if name == "XML3" and kq and not r.get("MA_VAT_TU") and not vao <= kq <= ra:
                out.append(ctx.v(name, no, "NGAY_KQ", "X11-DATES", window,
                                 "kết quả ngoài thời gian điều trị",
                                 "result outside the episode"))
    for i, r in enumerate(ctx.episode.rows("XML14")):
        hen = _dt(r.get("NGAY_HEN_KL", ""))
        if hen and hen < ra:
            out.append(ctx.v("XML14", i + 1, "NGAY_HEN_KL", "X11-DATES",
                             f"≥ NGAY_RA {x1['NGAY_RA']}", "ngày hẹn trước ngày ra",
                             "appointment before discharge"))
    return out


@rule("X12-SO_NGAY_DTRI", "§8.3.12", "record", "SO_NGAY_DTRI per the MA_LOAI_KCB rule")
def treatment_days(ctx: Context) -> list[Violation]:
    x1 = ctx.episode.xml1
    entry = ctx.codes["ma_loai_kcb"].entry(x1.get("MA_LOAI_KCB", ""), ctx.day)
    vao, ra = _dt(x1.get("NGAY_VAO", "")), _dt(x1.get("NGAY_RA", ""))
    if entry is None or not (vao and ra):
        return []
    how = entry.extra.get("so_ngay_dtri", "")
    expected: int | None = None
    if how == "zero":
        expected = 0
    elif how == "calendar":
        expected = (ra.date() - vao.date()).days + 1
    elif how == "service_days":
        days = {r.get("NGAY_TH_YL", "")[:8] or r.get("NGAY_YL", "")[:8]
                for r in ctx.episode.rows("XML3") if not r.get("MA_VAT_TU")}
        expected = len({d for d in days if d})
    if expected is None or x1.get("SO_NGAY_DTRI", "") == str(expected):
        return []
    return [ctx.v("XML1", 1, "SO_NGAY_DTRI", "X12-SO_NGAY_DTRI", str(expected),
                  "số ngày điều trị sai", "wrong number of treatment days")]


@rule("X13-BEDS", "§8.3.13", "record", "stays < 4 h are type 09 without bed-days; "
      "bed quantity ≤ 1 per row; bed-days ≤ SO_NGAY_DTRI")
def beds(ctx: Context) -> list[Violation]:
    x1 = ctx.episode.xml1
    out: list[Violation] = []
    vao, ra = _dt(x1.get("NGAY_VAO", "")), _dt(x1.get("NGAY_RA", ""))
    kcb = x1.get("MA_LOAI_KCB", "")
    bed_rows = [(i, r) for i, r in enumerate(ctx.episode.rows("XML3"))
                if r.get("MA_NHOM", "") in spec.BED_GROUPS]
    if vao and ra and kcb in ("03", "04") and ra - vao < dt.timedelta(hours=4):
        out.append(ctx.v("XML1", 1, "MA_LOAI_KCB", "X13-BEDS", "09",
                         "điều trị dưới 4 giờ phải là 09", "a stay under 4 hours is type 09"))
    if kcb == "09" and bed_rows:
        out.append(ctx.v("XML3", _rowno(bed_rows[0][1], bed_rows[0][0]), "MA_NHOM", "X13-BEDS",
                         "no bed-day row", "nội trú dưới 4 giờ không tính ngày giường",
                         "no bed-day for a stay under 4 hours"))
    total = Decimal(0)
    for i, r in bed_rows:
        q = values.to_decimal(r.get("SO_LUONG", "") or "0")
        total += q
        if q > 1:
            out.append(ctx.v("XML3", _rowno(r, i), "SO_LUONG", "X13-BEDS", "≤ 1",
                             "số lượng ngày giường mỗi dòng tối đa 1",
                             "bed quantity per row is at most 1"))
    days = x1.get("SO_NGAY_DTRI", "")
    if bed_rows and days.isdigit() and total > int(days):
        out.append(ctx.v("XML3", None, "SO_LUONG", "X13-BEDS", f"≤ SO_NGAY_DTRI {days}",
                         "tổng ngày giường vượt số ngày điều trị",
                         "bed-days exceed treatment days"))
    return out


@rule("X14-ONE-CONSULT", "§8.3.14", "record", "inpatient episodes: at most one consultation")
def one_consultation(ctx: Context) -> list[Violation]:
    if ctx.episode.xml1.get("MA_LOAI_KCB", "") not in ("03", "04"):
        return []
    rows = [(i, r) for i, r in enumerate(ctx.episode.rows("XML3"))
            if r.get("MA_NHOM", "") == spec.CONSULTATION_GROUP]
    return [ctx.v("XML3", _rowno(r, i), "MA_NHOM", "X14-ONE-CONSULT", "≤ 1 consultation row",
                  "nội trú chỉ được một lần khám", "inpatient: at most one consultation")
            for i, r in rows[1:]]


def _need(ctx: Context, name: str, no: int, r: Row, fields: tuple[str, ...], why: str,
          code: str) -> list[Violation]:
    return [ctx.v(name, no, f, code, "a value", f"thiếu {f} ({why})", f"{f} missing ({why})")
            for f in fields if not r.get(f, "").strip()]


@rule("X15-GROUP-FIELDS", "§8.3.15", "claim", "fields required by the cost group (MA_NHOM)")
def group_fields(ctx: Context) -> list[Violation]:
    out: list[Violation] = []
    for no, r in ctx.rows_of("XML3"):
        g, code = r.get("MA_NHOM", ""), "X15-GROUP-FIELDS"
        if g in spec.PERFORMER_GROUPS:
            out += _need(ctx, "XML3", no, r, ("NGUOI_THUC_HIEN", "NGAY_TH_YL"),
                         f"MA_NHOM {g}", code)
        if g in spec.MACHINE_GROUPS:
            m = r.get("MA_MAY", "")
            out += _need(ctx, "XML3", no, r, ("MA_MAY",), f"MA_NHOM {g}", code)
            for part in [p for p in m.split(";") if p][:1]:
                if not spec.MA_MAY_RE.match(m) and part:
                    out.append(ctx.v("XML3", no, "MA_MAY", code, "GROUP.n.FACILITY.SERIAL",
                                     "mã máy sai cấu trúc", "machine code badly formed"))
        if g == spec.SURGERY_GROUP:
            out += _need(ctx, "XML3", no, r, ("PP_VO_CAM",), "MA_NHOM 8", code)
        if g == spec.TRANSPORT_GROUP:
            out += _need(ctx, "XML3", no, r, ("MA_XANG_DAU",), "MA_NHOM 12", code)
        if g in spec.VTYT_GROUPS:
            out += _need(ctx, "XML3", no, r, ("TT_THAU", "MA_VAT_TU", "TEN_VAT_TU"),
                         "MA_NHOM 10", code)
        if g in spec.BED_GROUPS:
            bed = r.get("MA_GIUONG", "")
            if not bed or not all(spec.MA_GIUONG_RE.match(b) for b in bed.split(";")):
                out.append(ctx.v("XML3", no, "MA_GIUONG", code, "[HTCK] + 3 digits",
                                 "thiếu/sai mã giường", "bed code missing or badly formed"))
        if not r.get("MA_DICH_VU") and not r.get("MA_VAT_TU"):
            out.append(ctx.v("XML3", no, "MA_DICH_VU", code, "MA_DICH_VU or MA_VAT_TU",
                             "thiếu mã dịch vụ/vật tư", "neither service nor supply code"))
        if r.get("MA_DICH_VU") and not r.get("MA_VAT_TU") and not r.get("TEN_DICH_VU"):
            out += _need(ctx, "XML3", no, r, ("TEN_DICH_VU",), "service row", code)
    for no, r in ctx.rows_of("XML2"):
        if r.get("MA_NHOM", "") not in spec.TT_THAU_NOT_REQUIRED_XML2:
            out += _need(ctx, "XML2", no, r, ("TT_THAU",), "XML2 MA_NHOM ∉ {7,17}",
                         "X15-GROUP-FIELDS")
    return out


@rule("X16-RESULTS", "§8.3.16", "claim", "XML4 rows reference XML3 services; imaging results "
      "have MO_TA and KET_LUAN; NGAY_KQ with GIA_TRI; MA_BS_DOC_KQ present")
def results(ctx: Context) -> list[Violation]:
    services = {r.get("MA_DICH_VU", ""): r for r in ctx.episode.rows("XML3")
                if r.get("MA_DICH_VU")}
    out: list[Violation] = []
    for no, r in ctx.rows_of("XML4"):
        code = r.get("MA_DICH_VU", "")
        if code and code not in services:
            out.append(ctx.v("XML4", no, "MA_DICH_VU", "X16-RESULTS", "an XML3 MA_DICH_VU",
                             "kết quả không khớp dịch vụ nào trong XML3",
                             "result refers to no XML3 service"))
        if code in services and services[code].get("MA_NHOM") == spec.IMAGING_GROUP:
            out += _need(ctx, "XML4", no, r, ("MO_TA", "KET_LUAN"), "CĐHA / imaging",
                         "X16-RESULTS")
        if r.get("GIA_TRI") and not r.get("NGAY_KQ"):
            out += _need(ctx, "XML4", no, r, ("NGAY_KQ",), "GIA_TRI set", "X16-RESULTS")
        out += _need(ctx, "XML4", no, r, ("MA_BS_DOC_KQ",), "reader", "X16-RESULTS")
    return out


_DEMOGRAPHICS = ("HO_TEN", "NGAY_SINH", "GIOI_TINH", "SO_CCCD", "MA_THE_BHYT", "DIA_CHI", "MA_BN")


@rule("X17-DEMOGRAPHICS", "§8.3.17", "record", "demographics in XML6/13/14/15 equal XML1")
def demographics(ctx: Context) -> list[Violation]:
    x1 = ctx.episode.xml1
    out = []
    for name in ("XML6", "XML13", "XML14", "XML15"):
        for no, r in ctx.rows_of(name):
            for f in _DEMOGRAPHICS:
                if r.get(f) and r[f] != x1.get(f, ""):
                    out.append(ctx.v(name, no, f, "X17-DEMOGRAPHICS", x1.get(f, ""),
                                     "khác với XML1", "differs from XML1"))
    return out


@rule("X18-CEILING", "§8.3.18", "record", "T_BHTT of a supply package ≤ its ceiling T_TRANTT")
def ceiling(ctx: Context) -> list[Violation]:
    out = []
    for no, r in ctx.rows_of("XML3"):
        cap = r.get("T_TRANTT", "")
        if cap and values.to_decimal(r.get("T_BHTT", "")) > values.to_decimal(cap):
            out.append(ctx.v("XML3", no, "T_BHTT", "X18-CEILING", f"≤ {cap}",
                             "vượt mức trần thanh toán", "exceeds the payment ceiling"))
    return out


@rule("X19-CARD", "§8.3.19", "record", "card valid on the service dates; referral data for 1.3")
def card(ctx: Context) -> list[Violation]:
    x1 = ctx.episode.xml1
    out: list[Violation] = []
    starts = [s for s in x1.get("GT_THE_TU", "").split(";") if s]
    ends = [s for s in x1.get("GT_THE_DEN", "").split(";") if s]
    vao, ra = x1.get("NGAY_VAO", "")[:8], x1.get("NGAY_RA", "")[:8]
    if starts and vao and min(starts) > vao:
        out.append(ctx.v("XML1", 1, "GT_THE_TU", "X19-CARD", f"≤ NGAY_VAO {vao}",
                         "thẻ chưa có giá trị khi vào viện", "card not yet valid at admission"))
    if ends and len(ends) == len(starts) and ra and max(ends) < ra:
        out.append(ctx.v("XML1", 1, "GT_THE_DEN", "X19-CARD", f"≥ {ra}",
                         "thẻ hết hạn trước ngày ra", "card expired before the end of care"))
    if x1.get("MA_THE_BHYT") and len(starts) != len(x1["MA_THE_BHYT"].split(";")):
        out.append(ctx.v("XML1", 1, "GT_THE_TU", "X19-CARD", "one date per card",
                         "số giá trị không khớp số thẻ", "not one value per card"))
    if x1.get("MA_DOITUONG_KCB") == "1.3":
        out += _need(ctx, "XML1", 1, x1, ("MA_NOI_DI", "GIAY_CHUYEN_TUYEN"),
                     "MA_DOITUONG_KCB 1.3", "X19-CARD")
    return out


_ZERO = Decimal(0)


def _line_problems(ctx: Context, name: str, no: int, r: Row) -> list[Violation]:
    d, g = values.to_decimal, r.get
    out: list[Violation] = []
    try:
        if name == "XML2":
            bv, bh = money.drug_amounts(d(g("SO_LUONG", "")), d(g("DON_GIA", "")),
                                        d(g("TYLE_TT_BH", "")))
        else:
            bv, bh = money.service_amounts(
                d(g("SO_LUONG", "")), d(g("DON_GIA_BV", "")), d(g("DON_GIA_BH", "")),
                d(g("TYLE_TT_DV", "") or "100"), d(g("TYLE_TT_BH", "")))
        nk_parts = (_ZERO + d(g("T_NGUONKHAC_NSNN", "")) + d(g("T_NGUONKHAC_VTNN", ""))
                    + d(g("T_NGUONKHAC_VTTN", "")) + d(g("T_NGUONKHAC_CL", "")))
        nk = d(g("T_NGUONKHAC", ""))
        split = money.split_line(bv, bh, d(g("MUC_HUONG", "")), nk)
    except (ValueError, ArithmeticError):
        return []  # malformed numbers (or "Infinity") are reported by F06-FORMAT
    checks = (("THANH_TIEN_BV", bv), ("THANH_TIEN_BH", bh), ("T_BHTT", split.t_bhtt),
              ("T_BNCCT", split.t_bncct), ("T_BNTT", split.t_bntt), ("T_NGUONKHAC", nk_parts))
    for fld, want in checks:
        if d(g(fld, "")) != want:
            out.append(ctx.v(name, no, fld, "X20-MONEY", values.money(want),
                             "sai công thức tính tiền", "amount does not follow the formula"))
    if r.get("PHAM_VI") == "2" and (d(r.get("TYLE_TT_BH", "")) != 0 or bh != 0):
        out.append(ctx.v(name, no, "TYLE_TT_BH", "X21-BENEFIT", "0",
                         "ngoài phạm vi BHYT thì tỷ lệ và tiền BH bằng 0",
                         "outside BHYT scope: ratio and BH amount must be 0"))
    return out


@rule("X20-MONEY", "§8.3.20, §7", "record", "line money identities and XML1 totals, to the cent")
def money_rules(ctx: Context) -> list[Violation]:
    out: list[Violation] = []
    for name in ("XML2", "XML3"):
        for no, r in ctx.rows_of(name):
            out += _line_problems(ctx, name, no, r)
    try:
        t = money.totals(ctx.episode.rows("XML2"), ctx.episode.rows("XML3"))
    except (ValueError, ArithmeticError):
        return out
    for fld, want in t.as_fields().items():
        try:
            have = values.to_decimal(ctx.episode.xml1.get(fld, ""))
        except ValueError:
            continue
        if have != want:
            out.append(ctx.v("XML1", 1, fld, "X20-MONEY", values.money(want),
                             "tổng không bằng tổng chi tiết", "total differs from the lines"))
    return out


def expected_muc_huong(ctx: Context, line_day: dt.date) -> Decimal | None:
    """Benefit level expected from card level × category ratio (§7.5), or None if unknown."""
    x1 = ctx.episode.xml1
    cat = ctx.codes["ma_doituong_kcb"].entry(x1.get("MA_DOITUONG_KCB", ""), line_day)
    card_no = x1.get("MA_THE_BHYT", "").split(";")[0]
    if cat is None or len(card_no) < 3 or card_no[2] not in spec.CARD_BENEFIT_LEVEL:
        return None
    inpatient = x1.get("MA_LOAI_KCB", "") in ("03", "04", "06")
    ratio = cat.extra.get("ratio_inpatient" if inpatient else "ratio_outpatient", "")
    if not ratio:
        return None
    if x1.get("NGAY_MIEN_CCT") or cat.extra.get("card_level_ignored") == "yes":
        return Decimal(ratio)
    if values.to_decimal(x1.get("T_TONGCHI_BH", "")) < money.low_cost_threshold(line_day):
        return Decimal(ratio)
    return Decimal(spec.CARD_BENEFIT_LEVEL[card_no[2]]) * Decimal(ratio) / 100


@rule("X21-BENEFIT", "§8.3.21, §7.5", "record", "MUC_HUONG = card level × category ratio")
def benefit(ctx: Context) -> list[Violation]:
    severity: Severity = "error" if spec.MUC_HUONG_MISMATCH_BLOCKS else "warning"
    out = []
    try:
        want = expected_muc_huong(ctx, ctx.day)
    except ValueError:
        return []
    if want is None:
        return []
    for name in ("XML2", "XML3"):
        for no, r in ctx.rows_of(name):
            have = r.get("MUC_HUONG", "")
            try:
                if have and values.to_decimal(have) != want:
                    out.append(ctx.v(name, no, "MUC_HUONG", "X21-BENEFIT",
                                     values.percent(want), "mức hưởng không khớp thẻ và đối tượng",
                                     "benefit level does not match card and category",
                                     severity))
            except ValueError:
                continue
    return out


@rule("D23-DUPLICATES", "§8.3, issue", "record", "no duplicate lines (same item, same time)")
def duplicates(ctx: Context) -> list[Violation]:
    out = []
    keys = {"XML2": ("MA_THUOC", "NGAY_YL", "SO_LUONG", "DON_GIA"),
            "XML3": ("MA_DICH_VU", "MA_VAT_TU", "NGAY_YL", "NGAY_TH_YL", "MA_GIUONG")}
    for name, fields in keys.items():
        seen: dict[tuple[str, ...], int] = {}
        for no, r in ctx.rows_of(name):
            key = tuple(r.get(f, "") for f in fields)
            if key in seen:
                out.append(ctx.v(name, no, fields[0], "D23-DUPLICATES",
                                 f"not a copy of #{seen[key]}", f"trùng với dòng {seen[key]}",
                                 f"duplicate of row {seen[key]}"))
            else:
                seen[key] = no
    return out


@rule("W22-WARNINGS", "§8.3.22", "claim", "weight plausible; imaging result ≤ 70 min after "
      "performance")
def warnings(ctx: Context) -> list[Violation]:
    out = []
    weight = ctx.episode.xml1.get("CAN_NANG", "")
    try:
        if weight and not Decimal(0) < Decimal(weight) <= Decimal(200):
            out.append(ctx.v("XML1", 1, "CAN_NANG", "W22-WARNINGS", "0 < kg ≤ 200",
                             "cân nặng bất thường", "implausible weight", "warning"))
    except ArithmeticError:
        pass
    limit = dt.timedelta(minutes=spec.IMAGING_RESULT_DELAY_WARNING_MINUTES)
    for no, r in ctx.rows_of("XML3"):
        th, kq = _dt(r.get("NGAY_TH_YL", "")), _dt(r.get("NGAY_KQ", ""))
        if r.get("MA_NHOM") == spec.IMAGING_GROUP and th and kq and kq - th > limit:
            out.append(ctx.v("XML3", no, "NGAY_KQ", "W22-WARNINGS",
                             f"≤ NGAY_TH_YL + {spec.IMAGING_RESULT_DELAY_WARNING_MINUTES} min",
                             "kết quả CĐHA chậm bất thường", "imaging result unusually late",
                             "warning"))
    return out


def check_episode(episode: EpisodeRecord, codes: CodeLists,
                  stages: tuple[Stage, ...] = ("record", "claim")) -> list[Violation]:
    """Every violation of the rules of ``stages`` for ``episode``."""
    ctx = Context(episode, codes)
    out: list[Violation] = []
    for r in RULES:
        if r.stage in stages:
            try:
                out.extend(r.check(ctx))
            except (ArithmeticError, ValueError):
                # Only a number F06-FORMAT reports as malformed ("NaN", "Infinity", "12x")
                # gets here: the episode is refused for it, and one bad value must not stop
                # the whole run (``claims validate`` of a folder).
                continue
    return out
