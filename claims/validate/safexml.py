"""The one way claims code parses XML: no DTD, no entities, no network, bounded size and depth.

Refusing a DOCTYPE outright (rather than parsing it with entities off) makes XXE, billion
laughs and quadratic blow-up inputs fail fast, before libxml2 builds anything (spec §8.1.1,
reliability G12).
"""

from __future__ import annotations

import re

from lxml import etree

from claims import spec
from claims.errors import UnsafeXml

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_blank_text=False,
    )


def parse_xml(data: bytes, *, what: str = "document") -> etree._Element:
    """Parse ``data`` safely; raises UnsafeXml when it is refused or not well-formed."""
    if len(data) > spec.MAX_XML_BYTES:
        raise UnsafeXml(f"{what}: larger than {spec.MAX_XML_BYTES} bytes")
    if _DOCTYPE.search(data):
        raise UnsafeXml(f"{what}: a DOCTYPE/ENTITY declaration is not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"{what}: not well-formed XML ({exc.msg})") from exc
    if root.getroottree().docinfo.internalDTD is not None:
        raise UnsafeXml(f"{what}: a DTD is not allowed")
    depth = _depth(root)
    if depth > spec.MAX_XML_DEPTH:
        raise UnsafeXml(f"{what}: nested {depth} levels deep (limit {spec.MAX_XML_DEPTH})")
    return root


def _depth(root: etree._Element) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > spec.MAX_XML_DEPTH:
            return level
        stack.extend((child, level + 1) for child in node)
    return deepest
