"""Import one episode (the service behind ``POST /api/claims/episodes`` and ``claims import``).

A payload is a whole episode: ``{"XML1": {...}, "XML2": [{...}, ...], ..., "accession_numbers":
{"<XML3 row index>": "<accession>"}}``. It is checked completely (shape, every field's type,
length and format, code lists, money and date rules of the "record" stage) and either stored
whole or refused with every problem listed by field, in Vietnamese and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from claims.codes import CodeLists, load_code_lists
from claims.errors import Problem, RecordInvalid
from claims.records.episode import EpisodeRecord, Row
from claims.records.store import save_episode
from claims.tables import CLAIM_TABLE_NAMES, table
from claims.validate.rules import check_episode
from claims.validate.violations import blocking


@dataclass(frozen=True)
class ImportResult:
    ma_lk: str
    episode_id: int
    rows: int
    warnings: list[Problem]


def _text(value: Any) -> str | None:
    """The QĐ 130 text of a JSON value: strings as given; integers; None/'' empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return None  # floats are refused: money must arrive as exact decimal text


def episode_from_payload(payload: object) -> tuple[EpisodeRecord | None, list[Problem]]:
    """Shape check of a JSON payload; returns the record (if usable) and the problems."""
    problems: list[Problem] = []

    def bad(tbl: str, row: int | None, fld: str, vi: str, en: str) -> None:
        problems.append(Problem(tbl, row, fld, vi, en))

    if not isinstance(payload, dict):
        bad("", None, "", "dữ liệu phải là một đối tượng JSON", "the payload must be a JSON object")
        return None, problems
    tables: dict[str, list[Row]] = {}
    for key in payload:
        if key not in CLAIM_TABLE_NAMES and key != "accession_numbers":
            bad(str(key), None, "", "bảng không hợp lệ", "unknown table")
    for name in CLAIM_TABLE_NAMES:
        if name not in payload:
            continue
        raw = payload[name]
        single = not table(name).multi_row
        items = [raw] if single and isinstance(raw, dict) else raw
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            bad(name, None, "", "phải là danh sách bản ghi", "must be a list of records")
            continue
        rows: list[Row] = []
        for i, item in enumerate(items, 1):
            row: Row = {}
            for fld, value in item.items():
                text = _text(value)
                if text is None:
                    bad(name, i, str(fld), "giá trị phải là chuỗi (tiền dạng '123.45')",
                        "value must be a string (money as '123.45')")
                else:
                    row[str(fld)] = text
            rows.append(row)
        tables[name] = rows
    if "XML1" not in tables or len(tables["XML1"]) != 1:
        bad("XML1", None, "", "cần đúng một bản ghi XML1", "exactly one XML1 record is needed")
        return None, problems
    accession: dict[int, str] = {}
    raw_acc = payload.get("accession_numbers", {})
    if not isinstance(raw_acc, dict):
        bad("XML3", None, "accession_numbers", "phải là đối tượng", "must be an object")
    else:
        for k, v in raw_acc.items():
            if not str(k).isdigit() or not isinstance(v, str) or len(v) > 16:
                bad("XML3", None, "accession_numbers", "chỉ số dòng/số accession không hợp lệ",
                    "bad row index or accession number (≤ 16 characters)")
            elif int(k) >= len(tables.get("XML3", [])):
                bad("XML3", int(k) + 1, "accession_numbers", "không có dòng XML3 này",
                    "there is no such XML3 row")
            else:
                accession[int(k)] = v
    return EpisodeRecord(tables, accession), problems


def check_record(episode: EpisodeRecord, codes: CodeLists) -> tuple[list[Problem], list[Problem]]:
    """(blocking problems, warnings) of the "record" stage rules, as Problems."""
    found = check_episode(episode, codes, ("record",))
    def as_problem(v: Any) -> Problem:
        return Problem(v.table, v.row, v.field, f"{v.message_vi} (cần: {v.expected}; {v.rule})",
                       f"{v.message_en} (expected: {v.expected}; {v.rule})")
    errors = blocking(found)
    return [as_problem(v) for v in errors], [as_problem(v) for v in found if v not in errors]


def import_episode(session: Session, payload: dict[str, Any], *, source: str = "api",
                   codes: CodeLists | None = None) -> ImportResult:
    """Check and store one episode; raises RecordInvalid listing every problem (nothing stored).

    The caller frames the transaction; on RecordInvalid nothing was added to the session.
    """
    episode, problems = episode_from_payload(payload)
    if episode is None:
        raise RecordInvalid(problems)
    errors, warnings = check_record(episode, codes or load_code_lists())
    if problems or errors:
        raise RecordInvalid(problems + errors)
    stored = save_episode(session, episode, source)
    rows = sum(len(episode.rows(n)) for n in CLAIM_TABLE_NAMES)
    return ImportResult(episode.ma_lk, stored.id, rows, warnings)
