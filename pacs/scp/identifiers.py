"""C-FIND / C-MOVE / C-GET identifiers: pydicom Datasets in, plain filters out, and back.

The query engine (``pacs.index.query``) works on ``{keyword: value string}``; this module is the
only place where identifiers are turned into that and where matches become response datasets.
Person names are read decoded (the identifier's Specific Character Set applies) and responses
that hold non-ASCII text are sent in ISO_IR 192 (UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from pacs.errors import InvalidIdentifier

UTF8 = "ISO_IR 192"
# Elements of an identifier that are not matching keys.
CONTROL_KEYWORDS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet"})


def element_text(element: DataElement) -> str:
    """The value of a non-sequence element as it would be written in an identifier."""
    value = element.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_one(v) for v in value)
    return _one(value)


def _one(value: Any) -> str:
    if isinstance(value, PersonName):
        return str(value)  # decoded with the identifier's character set
    if isinstance(value, bytes):
        raise InvalidIdentifier("binary values cannot be matched")
    return str(value)


def decode_identifier(identifier: Dataset) -> Dataset:
    """Apply the identifier's Specific Character Set; raises InvalidIdentifier if it cannot."""
    try:
        identifier.decode()
        for element in identifier:
            _ = element.value
    except Exception as exc:  # pydicom raises several types for undecodable values
        raise InvalidIdentifier(f"identifier cannot be decoded: {exc}") from exc
    return identifier


def filters_from(identifier: Dataset) -> tuple[dict[str, str], list[DataElement]]:
    """The top-level matching keys as strings, plus the sequence keys (matched separately)."""
    filters: dict[str, str] = {}
    sequences: list[DataElement] = []
    for element in identifier:
        keyword = element.keyword or keyword_for_tag(element.tag)
        if not keyword or keyword in CONTROL_KEYWORDS or element.tag.group == 0x0000:
            continue
        if element.VR == "SQ":
            sequences.append(element)
            continue
        filters[keyword] = element_text(element)
    return filters, sequences


def query_level(identifier: Dataset) -> str:
    level = identifier.get("QueryRetrieveLevel")
    if not level:
        raise InvalidIdentifier("Query/Retrieve Level (0008,0052) is missing")
    return str(level)


def set_value(ds: Dataset, keyword: str, value: Any, vr: str | None = None) -> None:
    """Set `keyword` to a value from the index ('' and None make an empty element)."""
    vr = vr or dictionary_VR(keyword)
    if value is None or value == "":
        ds.add_new(keyword, vr, None)
        return
    if vr in ("US", "UL", "SS", "SL", "IS") and isinstance(value, str):
        value = int(value)
    if isinstance(value, str) and "\\" in value and vr not in ("PN", "LT", "ST", "UT"):
        value = value.split("\\")
    ds.add_new(keyword, vr, value)


def response(
    requested: Iterable[DataElement],
    values: Mapping[str, Any],
    *,
    level: str | None,
    request_charset: Any,
) -> tuple[Dataset, list[str]]:
    """A response identifier with exactly the requested keys; returns it and the keys we lack.

    `values` holds the match (keyword -> value); requested keys absent from it are returned
    empty and reported, so the caller can answer Pending 0xFF01 (optional keys not supported).
    """
    ds = Dataset()
    missing: list[str] = []
    for element in requested:
        keyword = element.keyword
        if not keyword or keyword in CONTROL_KEYWORDS:
            continue
        if keyword in values:
            set_value(ds, keyword, values[keyword], element.VR)
        else:
            ds.add_new(element.tag, element.VR, None)
            missing.append(keyword)
    for keyword, value in values.items():
        if keyword not in ds:  # required unique keys the requester left out
            set_value(ds, keyword, value)
    if level is not None:
        ds.QueryRetrieveLevel = level
    apply_charset(ds, request_charset)
    return ds, missing


def apply_charset(ds: Dataset, request_charset: Any) -> None:
    """UTF-8 when any text is non-ASCII, else the requester's own character set (if any)."""
    text = (el for el in ds.iterall() if el.VR in _TEXT_VRS and el.value is not None)
    if any(not str(el.value).isascii() for el in text):
        ds.SpecificCharacterSet = UTF8
    elif request_charset:
        ds.SpecificCharacterSet = request_charset


_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})
