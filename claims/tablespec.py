"""The shape of the QĐ 130 documents: which fields each table has and how it nests (spec §2.4, §4).

Owns the table registry used by the builders, the XSD generator, the parsers and the rules. It
holds no rule and no money logic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "text", "int", "money", "dec3", "percent", "date", "datetime", "birth",
    "date_or_datetime", "datelist",
]
Requirement = Literal["R", "O", "C"]


@dataclass(frozen=True)
class Field:
    """One element of a table row: QĐ 130 name, value kind, max length (None = "n"), requirement."""

    name: str
    kind: Kind
    max_length: int | None
    requirement: Requirement


@dataclass(frozen=True)
class Table:
    """One QĐ 130 table document (spec §2.4).

    ``list_element``/``row_element`` are None for single-record tables whose fields sit directly
    under the root (XML1, XML7, XML8, XML10, XML11, XML13, XML14).
    """

    name: str  # "XML1" … "XML15", "XML0"
    root: str
    list_element: str | None
    row_element: str | None
    fields: tuple[Field, ...]
    has_stt: bool

    @property
    def multi_row(self) -> bool:
        return self.row_element is not None

    @functools.cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)
