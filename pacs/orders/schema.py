"""What the HIS sends for an imaging order, validated field by field (pydantic).

Values are normalised to what DICOM and QĐ 130 expect: names to PN (``Family^Given``), dates to
DA (``YYYYMMDD``), the insurance card to its 15-character form. Every error names its field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lienthong.clock import hospital_today
from lienthong.settings import check_ae_title
from pacs.errors import OrderRejected

# Modalities a worklist entry may name (PS3.3 C.7.3.1.1.1 defined terms in use here).
MODALITIES = frozenset(
    "CR CT DX ES IO MG MR NM OT PT PX RF RG SC US XA XC ECG".split()
)
_ACCESSION = re.compile(r"[A-Za-z0-9._-]{1,16}")
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
# QĐ 130 MA_THE_BHYT: 2-letter beneficiary code, benefit level digit, province (2), 10 digits.
_BHYT = re.compile(r"[A-Z]{2}[0-9]{13}")


def person_name(value: str) -> str:
    """A DICOM PN from a Vietnamese full name ("Nguyễn Văn An" -> "Nguyễn^Văn An").

    A value that already holds '^' is taken as PN. The family name comes first in Vietnamese.
    """
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be empty")
    if "\\" in value or "=" in value or not value.isprintable():
        raise ValueError("must be a plain name (no '\\' or '=')")
    if "^" not in value:
        family, _, given = value.partition(" ")
        value = f"{family}^{given}" if given else family
    if any(len(part) > 64 for part in value.split("^")):
        raise ValueError("a name component is longer than 64 characters")
    return value


def _da(value: str) -> str:
    value = value.strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    raise ValueError("must be a date, YYYY-MM-DD or YYYYMMDD")


def _short(value: str, limit: int) -> str:
    value = value.strip()
    if "\\" in value or not value.isprintable():
        raise ValueError("must be printable text without '\\'")
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return value


class _OrderFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    patient_name: str | None = None
    patient_birth_date: str | None = None
    patient_sex: Literal["M", "F", "O"] | None = None
    patient_address: str | None = Field(None, max_length=200)
    ma_the_bhyt: str | None = None
    ma_lk: str | None = Field(None, max_length=100)
    ma_dich_vu: str | None = Field(None, max_length=50)
    requested_procedure_description: str | None = Field(None, max_length=64)
    modality: str | None = None
    scheduled_station_ae_title: str | None = None
    scheduled_at: dt.datetime | None = None
    referring_physician_name: str | None = None

    @field_validator("patient_name", "referring_physician_name")
    @classmethod
    def _pn(cls, value: str | None) -> str | None:
        return None if value is None else person_name(value)

    @field_validator("patient_birth_date")
    @classmethod
    def _birth(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        date = _da(value)
        if date > hospital_today().strftime("%Y%m%d"):
            raise ValueError("is in the future")
        return date

    @field_validator("ma_the_bhyt")
    @classmethod
    def _bhyt(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        value = value.upper()
        if not _BHYT.fullmatch(value):
            raise ValueError("must be 15 characters: 2 letters then 13 digits")
        return value

    @field_validator("modality")
    @classmethod
    def _modality(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if value not in MODALITIES:
            raise ValueError(f"must be one of {', '.join(sorted(MODALITIES))}")
        return value

    @field_validator("scheduled_station_ae_title")
    @classmethod
    def _ae(cls, value: str | None) -> str | None:
        return None if value is None else check_ae_title(value)

    @field_validator("patient_address", "ma_lk", "ma_dich_vu", "requested_procedure_description")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _short(value, 200)


class OrderCreate(_OrderFields):
    """A new imaging order. Accession number and Study Instance UID are generated if absent."""

    patient_id: str = Field(min_length=1, max_length=64)
    patient_name: str
    ma_dich_vu: str = Field(min_length=1, max_length=50)
    requested_procedure_description: str = Field(min_length=1, max_length=64)
    modality: str
    scheduled_station_ae_title: str
    scheduled_at: dt.datetime
    accession_number: str | None = None
    study_instance_uid: str | None = None
    requested_procedure_id: str | None = Field(None, max_length=16)

    @field_validator("patient_id")
    @classmethod
    def _patient_id(cls, value: str) -> str:
        return _short(value, 64)

    @field_validator("accession_number")
    @classmethod
    def _accession(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _ACCESSION.fullmatch(value):
            raise ValueError("must be 1-16 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("study_instance_uid")
    @classmethod
    def _uid(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) > 64 or not _UID.fullmatch(value) or any(
            len(c) > 1 and c.startswith("0") for c in value.split(".")
        ):
            raise ValueError("must be a DICOM UID (digits and dots, at most 64)")
        return value


class OrderUpdate(_OrderFields):
    """Changes to an open order: only the fields sent are changed."""


def _field_of(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return field, str(first["msg"])


def parse_create(payload: Mapping[str, Any]) -> OrderCreate:
    """Validate a new order; raises OrderRejected naming the first bad field."""
    try:
        return OrderCreate.model_validate(dict(payload))
    except ValidationError as exc:
        raise OrderRejected(*_field_of(exc)) from None


def parse_update(payload: Mapping[str, Any]) -> OrderUpdate:
    try:
        return OrderUpdate.model_validate(dict(payload))
    except ValidationError as exc:
        raise OrderRejected(*_field_of(exc)) from None
