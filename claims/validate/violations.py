"""A pre-check finding: which episode, table, row and field, which rule, what was expected."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Violation:
    """One rule violation; ``severity`` "error" blocks sending (spec §8)."""

    ma_lk: str
    table: str
    row: int | None  # STT (or 1-based position when STT is absent); None = whole table/file
    field: str
    rule: str
    expected: str
    message_vi: str
    message_en: str
    severity: Severity = "error"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        where = f"{self.table}" + (f"#{self.row}" if self.row is not None else "")
        return (f"[{self.severity}] {self.ma_lk} {where} {self.field} {self.rule}: "
                f"{self.message_en} (expected {self.expected}) | {self.message_vi}")


def blocking(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == "error"]
