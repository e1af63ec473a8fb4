"""File importers: JSON, CSV (one file per table) and existing QĐ 130 XML (GIAMDINHHS).

Each importer turns a file into episode payloads for records/service.py; ``import_file`` checks
every episode of the file and stores all of them or none (one transaction, framed by the
caller), listing every problem of every episode.

* JSON: one episode object (service.py shape) or a list of them.
* CSV: a folder holding ``XML1.csv`` and any of ``XML2.csv`` … ``XML15.csv`` (UTF-8, header =
  QĐ 130 element names, rows joined to XML1 by ``MA_LK``); XML3 may carry an extra
  ``ACCESSION_NUMBER`` column (the imaging order link). A path to ``XML1.csv`` means its folder.
* XML: a GIAMDINHHS envelope (signed or not) from any HIS; each HOSO becomes an episode.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from claims import spec
from claims.codes import CodeLists
from claims.errors import Problem, RecordInvalid, UnsafeXml
from claims.records.service import ImportResult, check_record, episode_from_payload
from claims.records.store import save_episode
from claims.tables import CLAIM_TABLE_NAMES, table
from claims.validate.parse import episode_from_documents, parse_claim_file

ACCESSION_COLUMN = "ACCESSION_NUMBER"
MAX_JSON_BYTES = spec.MAX_XML_BYTES


def _p(vi: str, en: str, tbl: str = "", row: int | None = None, fld: str = "") -> Problem:
    return Problem(tbl, row, fld, vi, en)


def payloads_from_json(data: bytes) -> tuple[list[dict[str, Any]], list[Problem]]:
    if len(data) > MAX_JSON_BYTES:
        return [], [_p("tệp quá lớn", "file too large")]
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [_p(f"JSON không hợp lệ: {exc}", f"not valid JSON: {exc}")]
    items = doc if isinstance(doc, list) else [doc]
    return items, []


def payloads_from_csv(folder: Path) -> tuple[list[dict[str, Any]], list[Problem]]:
    problems: list[Problem] = []
    by_lk: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for name in CLAIM_TABLE_NAMES:
        path = folder / f"{name}.csv"
        if not path.is_file():
            if name == "XML1":
                problems.append(_p("thiếu tệp XML1.csv", "XML1.csv is missing", "XML1"))
                return [], problems
            continue
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(_p(f"không đọc được tệp: {exc}", f"cannot read the file: {exc}", name))
            continue
        reader = csv.DictReader(io.StringIO(text, newline=""))
        allowed = set(table(name).field_names) | {ACCESSION_COLUMN}
        header = reader.fieldnames or []
        for col in header:
            if col not in allowed:
                problems.append(_p("cột không thuộc bảng", "column is not a field of the table",
                                   name, None, col))
        if "MA_LK" not in header:
            problems.append(_p("thiếu cột MA_LK", "MA_LK column missing", name, None, "MA_LK"))
            continue
        for i, raw in enumerate(reader, 1):
            if None in raw:
                problems.append(_p("dòng có nhiều cột hơn tiêu đề", "row has more columns than "
                                   "the header", name, i))
                continue
            row = {k: (v or "") for k, v in raw.items() if k in allowed}
            lk = row.get("MA_LK", "")
            if name == "XML1":
                if lk in by_lk:
                    problems.append(_p("MA_LK trùng", "duplicate MA_LK", name, i, "MA_LK"))
                    continue
                by_lk[lk] = {"XML1": row}
                order.append(lk)
                continue
            if lk not in by_lk:
                problems.append(_p("MA_LK không có trong XML1", "MA_LK not found in XML1",
                                   name, i, "MA_LK"))
                continue
            accession = row.pop(ACCESSION_COLUMN, "")
            rows = by_lk[lk].setdefault(name, [])
            if accession:
                by_lk[lk].setdefault("accession_numbers", {})[str(len(rows))] = accession
            rows.append(row)
    return [by_lk[k] for k in order], problems


def payloads_from_xml(data: bytes) -> tuple[list[dict[str, Any]], list[Problem]]:
    try:
        claim = parse_claim_file(data)
    except UnsafeXml as exc:
        return [], [_p(f"tệp XML bị từ chối: {exc}", f"XML file refused: {exc}")]
    payloads: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for docs in claim.episodes:
        for d in docs:
            if d.problem:
                problems.append(_p(f"tài liệu không đọc được: {d.problem}",
                                   f"document unreadable: {d.problem}", d.name))
        try:
            ep = episode_from_documents(docs)
        except UnsafeXml as exc:
            problems.append(_p(str(exc), str(exc)))
            continue
        payload: dict[str, Any] = {"XML1": ep.xml1}
        for name in CLAIM_TABLE_NAMES[1:]:
            if ep.rows(name):
                payload[name] = ep.rows(name) if table(name).multi_row else ep.rows(name)[0]
        payloads.append(payload)
    return payloads, problems


def read_payloads(path: Path) -> tuple[list[dict[str, Any]], list[Problem], str]:
    """(payloads, file-level problems, source kind) for a JSON/XML file or a CSV folder."""
    if path.is_dir():
        return (*payloads_from_csv(path), "csv")
    if path.suffix.lower() == ".csv":
        return (*payloads_from_csv(path.parent), "csv")
    size = path.stat().st_size
    if size > spec.MAX_XML_BYTES:
        return [], [_p("tệp quá lớn", "file too large")], "file"
    data = path.read_bytes()
    if path.suffix.lower() == ".xml" or data.lstrip()[:1] == b"<":
        return (*payloads_from_xml(data), "xml")
    return (*payloads_from_json(data), "json")


def import_file(session: Session, path: Path, codes: CodeLists) -> list[ImportResult]:
    """Import every episode of ``path``, all or nothing; raises RecordInvalid with all problems."""
    payloads, problems, source = read_payloads(path)
    checked = []
    seen: set[str] = set()
    for payload in payloads:
        episode, shape = episode_from_payload(payload)
        lk = episode.ma_lk if episode is not None else ""
        problems += [replace(p, episode=lk) for p in shape]
        if episode is None:
            continue
        if lk in seen:
            problems.append(replace(_p("MA_LK trùng trong tệp", "MA_LK repeated in the file",
                                       "XML1", 1, "MA_LK"), episode=lk))
        seen.add(lk)
        errors, warnings = check_record(episode, codes)
        problems += [replace(p, episode=lk) for p in errors]
        checked.append((episode, warnings))
    if not payloads and not problems:
        problems.append(_p("tệp không có hồ sơ nào", "the file holds no episode"))
    if problems:
        raise RecordInvalid(problems)
    results = []
    for episode, warnings in checked:
        stored = save_episode(session, episode, source)
        rows = sum(len(episode.rows(n)) for n in CLAIM_TABLE_NAMES)
        results.append(ImportResult(episode.ma_lk, stored.id, rows, warnings))
    return results
