"""The one way claims code parses XML: no DTD, no entities, no network, bounded size and depth.

Deep nesting is refused by libxml2 itself (256 levels without ``huge_tree``), and every
document is then checked against its XSD, which allows no nesting beyond the QĐ 130 shape.
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
    # A declaration needs "<!": looking for its "!" first is one memchr over the bytes, where
    # the case-blind expression steps through every "<" (claim files are mostly base64).
    if b"!" in data and _DOCTYPE.search(data):
        raise UnsafeXml(f"{what}: a DOCTYPE/ENTITY declaration is not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"{what}: not well-formed XML ({exc.msg})") from exc
    if root.getroottree().docinfo.internalDTD is not None:
        raise UnsafeXml(f"{what}: a DTD is not allowed")
    return root
