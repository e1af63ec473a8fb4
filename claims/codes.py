"""Dated code lists (spec §5): loaded from CSV files at run time, so a rule change is a data change.

Each file in claims/codelists/ (or in the configured ``claims.code_list_dir``, whose files of the
same name take precedence) has the columns ``code,label,valid_from,valid_to`` plus optional
list-specific columns kept as ``extra``. A code is valid on a date when
``valid_from <= date <= valid_to`` (an empty ``valid_to`` is open-ended).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

LIST_NAMES = (
    "ma_loai_kcb", "ma_doituong_kcb", "ket_qua_dtri", "ma_loai_rv", "gioi_tinh", "ma_nhom",
    "pham_vi", "ma_pttt", "nguon_ctra", "pp_vo_cam", "ma_khuvuc", "ma_xang_dau",
)


@dataclass(frozen=True)
class CodeEntry:
    code: str
    label: str
    valid_from: dt.date
    valid_to: dt.date | None
    extra: dict[str, str] = field(default_factory=dict)

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class CodeList:
    name: str
    entries: tuple[CodeEntry, ...]

    @functools.cached_property
    def _by_code(self) -> dict[str, tuple[CodeEntry, ...]]:
        # Every field of every row looks codes up: index them once, keeping the file order.
        index: dict[str, list[CodeEntry]] = {}
        for e in self.entries:
            index.setdefault(e.code, []).append(e)
        return {code: tuple(found) for code, found in index.items()}

    def entry(self, code: str, day: dt.date) -> CodeEntry | None:
        """The entry for ``code`` valid on ``day``, or None."""
        for e in self._by_code.get(code, ()):
            if e.valid_on(day):
                return e
        return None

    def valid_codes(self, day: dt.date) -> list[str]:
        seen: list[str] = []
        for e in self.entries:
            if e.valid_on(day) and e.code not in seen:
                seen.append(e.code)
        return seen


@dataclass(frozen=True)
class CodeLists:
    lists: dict[str, CodeList]

    def __getitem__(self, name: str) -> CodeList:
        return self.lists[name]


def _parse_date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text.strip() else None


def _read(name: str, text: str) -> CodeList:
    entries: list[CodeEntry] = []
    for row in csv.DictReader(text.splitlines()):
        start = _parse_date(row.pop("valid_from", ""))
        if start is None:
            raise ValueError(f"code list {name}: code {row.get('code')!r} has no valid_from")
        end = _parse_date(row.pop("valid_to", ""))
        code = row.pop("code").strip()
        label = row.pop("label", "").strip()
        entries.append(CodeEntry(code, label, start, end, {k: (v or "").strip()
                                                          for k, v in row.items()}))
    return CodeList(name, tuple(entries))


def load_code_lists(override_dir: Path | None = None) -> CodeLists:
    """Load every code list; a file ``<name>.csv`` in ``override_dir`` replaces the shipped one."""
    package = resources.files("claims") / "codelists"
    lists: dict[str, CodeList] = {}
    for name in LIST_NAMES:
        override = override_dir / f"{name}.csv" if override_dir is not None else None
        if override is not None and override.is_file():
            text = override.read_text(encoding="utf-8")
        else:
            text = (package / f"{name}.csv").read_text(encoding="utf-8")
        lists[name] = _read(name, text)
    return CodeLists(lists)
