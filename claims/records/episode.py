"""The in-memory episode: one MA_LK with its table rows, as exact QĐ 130 texts.

This is the one shape shared by importers, builders, parsers and rules: every value is the
text that goes into (or came out of) the XML, so codes keep leading zeros and money keeps its
exact decimal form. Typed accessors convert on demand (claims/values.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from claims import spec, values
from claims.tables import CLAIM_TABLE_NAMES, table

Row = dict[str, str]


@dataclass
class EpisodeRecord:
    """One treatment episode (MA_LK) with the rows of each table.

    ``tables["XML1"]`` has exactly one row. ``accession_numbers`` maps an XML3 row index to the
    imaging order's accession number (not a QĐ 130 field; used to link the row to the PACS).
    """

    tables: dict[str, list[Row]]
    accession_numbers: dict[int, str] = field(default_factory=dict)
    # Tables whose rows were read from a document that passed the table's XSD (claim files
    # read back by claims/validate/parse.py); F06-FORMAT then skips what the XSD checked.
    schema_valid: frozenset[str] = frozenset()

    @property
    def xml1(self) -> Row:
        return self.tables["XML1"][0]

    @property
    def ma_lk(self) -> str:
        return self.xml1.get("MA_LK", "")

    def rows(self, name: str) -> list[Row]:
        return self.tables.get(name, [])

    @property
    def end_of_care(self) -> dt.date:
        return values.parse_datetime(self.xml1["NGAY_RA"]).date()

    @property
    def release(self) -> str:
        """Spec release of the episode; a malformed NGAY_RA (reported by the rules) counts as
        the current release."""
        try:
            return spec.release_for(self.end_of_care)
        except (KeyError, ValueError):
            return spec.release_for(dt.date.max)

    def total(self, name: str) -> Decimal:
        return values.to_decimal(self.xml1.get(name, ""))

    def canonical_json(self) -> bytes:
        """Stable serialisation of the whole record (fields in table order), for digests."""
        out: dict[str, object] = {}
        for name in CLAIM_TABLE_NAMES:
            rows = self.rows(name)
            if rows:
                names = table(name, self.release).field_names
                out[name] = [[r.get(n, "") for n in names] for r in rows]
        out["accession_numbers"] = {str(k): v for k, v in sorted(self.accession_numbers.items())}
        return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def digest(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()


def complete_row(name: str, row: Row, release: str) -> Row:
    """The row with every field of the table present (missing ones empty), in table order."""
    return {f: row.get(f, "") for f in table(name, release).field_names}
