"""C-FIND / C-MOVE / C-GET identifiers: pydicom Datasets in, plain filters out, and back.

The query engine (``pacs.index.query``) works on ``{keyword: value string}``; this module is the
only place where identifiers are turned into that and where matches become response datasets.
Person names are read decoded (the identifier's Specific Character Set applies) and responses
that hold non-ASCII text are sent in ISO_IR 192 (UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydicom import config
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from pacs.errors import InvalidIdentifier

UTF8 = "ISO_IR 192"
CHARSET_TAG = 0x00080005  # Specific Character Set
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


_INT_VRS = frozenset({"US", "UL", "SS", "SL", "IS"})
_SINGLE_TEXT_VRS = frozenset({"PN", "LT", "ST", "UT"})
_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})

# (tag, VR, keyword) of each requested key, resolved once per request.
ResponseKeys = list[tuple[int, str, str]]


def _element(tag: int, vr: str, value: Any) -> DataElement:
    if value is None or value == "":
        value = [] if vr == "SQ" else None
    elif vr in _INT_VRS and isinstance(value, str):
        value = int(value)
    elif isinstance(value, str) and "\\" in value and vr not in _SINGLE_TEXT_VRS:
        value = value.split("\\")
    # The values come from our own index, already checked at ingest: pydicom's per-value
    # validation would be most of the cost of a C-FIND response.
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def set_value(ds: Dataset, keyword: str, value: Any, vr: str | None = None) -> None:
    """Set `keyword` to a value from the index ('' and None make an empty element)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    ds.add(_element(tag, vr or dictionary_VR(tag), value))


def response_keys_of(requested: Iterable[DataElement]) -> ResponseKeys:
    """The requested keys of an identifier (control elements left out)."""
    keys: ResponseKeys = []
    for element in requested:
        keyword = element.keyword
        if keyword and keyword not in CONTROL_KEYWORDS and element.tag.group != 0x0000:
            keys.append((int(element.tag), element.VR, keyword))
    return keys


# (tag, VR, value) of one response element, the value as the index holds it.
Element = tuple[int, str, Any]


def response(
    requested: ResponseKeys,
    values: Mapping[str, Any],
    *,
    level: str | None,
    request_charset: Any,
) -> tuple[list[Element], list[str]]:
    """A response identifier with exactly the requested keys; returns it and the keys we lack.

    `values` holds the match (keyword -> value); requested keys absent from it are returned
    empty and reported, so the caller can answer Pending 0xFF01 (optional keys not supported).
    Keys in `values` that were not requested (the unique keys) are added. The elements become
    bytes in ``pacs.scp.wire`` (or a Dataset through ``as_dataset``).
    """
    elements: list[Element] = []
    missing: list[str] = []
    asked = set()
    for tag, vr, keyword in requested:
        asked.add(keyword)
        if keyword in values:
            elements.append((tag, vr, values[keyword]))
        else:
            elements.append((tag, vr, None))
            missing.append(keyword)
    for keyword, value in values.items():
        if keyword not in asked:
            unique = tag_for_keyword(keyword)
            if unique is None:
                raise KeyError(keyword)
            elements.append((unique, dictionary_VR(unique), value))
    if level is not None:
        elements.append((0x00080052, "CS", level))
    if _has_non_ascii(values.values()):
        elements.append((CHARSET_TAG, "CS", UTF8))
    elif request_charset:
        elements.append((CHARSET_TAG, "CS", request_charset))
    return elements, missing


def as_dataset(elements: Iterable[Element]) -> Dataset:
    ds = Dataset()
    for tag, vr, value in elements:
        ds.add(_element(tag, vr, value))
    return ds


def _has_non_ascii(values: Iterable[Any]) -> bool:
    for value in values:
        if isinstance(value, str):
            if not value.isascii():
                return True
        elif isinstance(value, list) and any(
            isinstance(item, Dataset) and _has_non_ascii(
                el.value for el in item if el.VR in _TEXT_VRS or el.VR == "SQ")
            for item in value
        ):
            return True
    return False
