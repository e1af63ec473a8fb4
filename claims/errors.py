"""The claims error family. Each error carries its HTTP status; gateway/errors.py maps them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem with an input record: where and what, in Vietnamese and English."""

    table: str
    row: int | None
    field: str
    message_vi: str
    message_en: str
    episode: str = ""  # MA_LK when known

    def as_dict(self) -> dict[str, object]:
        return {"episode": self.episode, "table": self.table, "row": self.row,
                "field": self.field, "message_vi": self.message_vi,
                "message_en": self.message_en}

    def line(self) -> str:
        where = f"{self.episode} {self.table}" + (f"#{self.row}" if self.row is not None else "")
        return f"{where.strip()} {self.field}: {self.message_en} | {self.message_vi}"


class ClaimsError(Exception):
    """Base of the claims errors."""

    http_status = 500


class UnsafeXml(ClaimsError):
    """An XML input was refused before use: DTD/entities, too large, too deep or not well-formed."""

    http_status = 400


class RecordInvalid(ClaimsError):
    """An episode was refused at import; ``problems`` lists every problem found, by field."""

    http_status = 422

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the record")
        self.problems = problems


class RuleViolations(ClaimsError):
    """Blocking assessment pre-check violations; nothing may leave (STYLE §3.8: HTTP 422)."""

    http_status = 422

    def __init__(self, violations: list[object]) -> None:
        super().__init__(f"{len(violations)} blocking violation(s)")
        self.violations = violations


class SigningUnavailable(ClaimsError):
    """No usable signing certificate: path or password missing, or the PKCS#12 cannot be opened."""

    http_status = 503


class SignatureInvalid(ClaimsError):
    """A document's XML signature is missing or does not verify."""

    http_status = 400


class EpisodeNotFound(ClaimsError):
    """No episode with this MA_LK is stored."""

    http_status = 404

    def __init__(self, ma_lk: str) -> None:
        super().__init__(f"no episode with MA_LK {ma_lk!r}")


class EpisodeLocked(ClaimsError):
    """The portal accepted this episode: a re-import would silently change an accepted claim."""

    http_status = 409

    def __init__(self, ma_lk: str) -> None:
        super().__init__(f"episode {ma_lk!r} was accepted by the portal and cannot be replaced")
