"""XSD per QĐ 130 table and for the GIAMDINHHS envelope, written from the spec (§11).

No official XSD is public (§11), so ours are generated from the field tables (claims/fields.py):
every element present in the spec's order, strings bounded by their maximum length, numbers and
dates by their textual patterns (§2.5). Requiredness and conditions are pre-check rules
(validate/rules.py), where they can be reported per field with a reason. The generated files
are shipped in claims/validate/xsd/ and reloaded from there; ``python -m claims.validate.schema``
rewrites them, and a test checks they match the tables.
"""

from __future__ import annotations

import functools
import sys
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from claims.tables import all_tables
from claims.tablespec import Field, Table
from claims.validate.safexml import parse_xml

_PATTERNS = {
    "int": r"\d+",
    "money": r"\d+(\.\d{1,2})?",
    "dec3": r"\d+(\.\d{1,3})?",
    "percent": r"\d{1,3}(\.\d{1,2})?",
    "date": r"\d{8}",
    "datetime": r"\d{12}",
    "birth": r"\d{12}",
    "date_or_datetime": r"\d{8}|\d{12}",
    "datelist": r"\d{8}(;\d{8})*",
}

# Field kinds whose whole F06-FORMAT check (values.format_problem: the pattern above, the
# length, and characters XML can carry) a table's XSD makes: rows read from a document that
# passed its XSD need only the checks of the other kinds (real dates, percentages ≤ 100).
XSD_COMPLETE_KINDS = frozenset({"text", "int", "money", "dec3"})

_SIGNATURE_HOLDER = (
    '<xs:element name="CHUKYDONVI"><xs:complexType mixed="true"><xs:sequence>'
    '<xs:any processContents="skip" namespace="##any" minOccurs="0" maxOccurs="unbounded"/>'
    "</xs:sequence></xs:complexType></xs:element>"
)


def _simple_type(f: Field) -> str:
    facets = []
    if f.kind in _PATTERNS:
        facets.append(f'<xs:pattern value="({_PATTERNS[f.kind]})?"/>')
    if f.max_length is not None:
        facets.append(f'<xs:maxLength value="{f.max_length}"/>')
    inner = "".join(facets)
    return (f'<xs:element name="{f.name}"><xs:simpleType><xs:restriction base="xs:string">'
            f"{inner}</xs:restriction></xs:simpleType></xs:element>")


def _fields(tbl: Table) -> str:
    return "".join(_simple_type(f) for f in tbl.fields)


def xsd_text(tbl: Table, variant: str = "") -> str:
    """The XSD of table document ``tbl``."""
    trailer = _SIGNATURE_HOLDER if tbl.name == "XML0" else ""
    if tbl.row_element is None:
        body = f"<xs:sequence>{_fields(tbl)}</xs:sequence>"
    else:
        row = (f'<xs:element name="{tbl.row_element}" maxOccurs="unbounded"><xs:complexType>'
               f"<xs:sequence>{_fields(tbl)}</xs:sequence></xs:complexType></xs:element>")
        body = (f'<xs:sequence><xs:element name="{tbl.list_element}"><xs:complexType>'
                f"<xs:sequence>{row}</xs:sequence></xs:complexType></xs:element>"
                f"{trailer}</xs:sequence>")
    comment = f"<!-- QĐ 130 {tbl.name}{variant}: generated from the field tables -->"
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'{comment}\n<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'elementFormDefault="unqualified">\n'
        f'<xs:element name={quoteattr(tbl.root)}><xs:complexType>{body}</xs:complexType>'
        "</xs:element>\n</xs:schema>\n"
    )


LOAIHOSO_VALUES = ("XML1", "XML2", "XML3", "XML4", "XML5", "XML6", "XML7", "XML8", "XML9",
                   "XML10", "XML11", "XML13", "XML14", "XML15")


def envelope_xsd_text(contents_type: str = "xs:base64Binary") -> str:
    """The XSD of the GIAMDINHHS envelope (spec §2.3); ``contents_type``: see
    envelope_schema_without_contents."""
    enum = "".join(f'<xs:enumeration value="{v}"/>' for v in LOAIHOSO_VALUES)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<!-- GIAMDINHHS envelope (QĐ 130 / 4750 §2.3): generated -->\n"
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="unqualified">'
        '\n<xs:element name="GIAMDINHHS"><xs:complexType><xs:sequence>'
        '<xs:element name="THONGTINDONVI"><xs:complexType><xs:sequence>'
        '<xs:element name="MACSKCB"><xs:simpleType><xs:restriction base="xs:string">'
        '<xs:pattern value="[0-9A-Z]{5}"/></xs:restriction></xs:simpleType></xs:element>'
        "</xs:sequence></xs:complexType></xs:element>"
        '<xs:element name="THONGTINHOSO"><xs:complexType><xs:sequence>'
        '<xs:element name="NGAYLAP"><xs:simpleType><xs:restriction base="xs:string">'
        '<xs:pattern value="\\d{8}"/></xs:restriction></xs:simpleType></xs:element>'
        '<xs:element name="SOLUONGHOSO" type="xs:positiveInteger"/>'
        '<xs:element name="DANHSACHHOSO"><xs:complexType><xs:sequence>'
        '<xs:element name="HOSO" maxOccurs="unbounded"><xs:complexType><xs:sequence>'
        '<xs:element name="FILEHOSO" maxOccurs="14"><xs:complexType><xs:sequence>'
        '<xs:element name="LOAIHOSO"><xs:simpleType><xs:restriction base="xs:string">'
        f"{enum}</xs:restriction></xs:simpleType></xs:element>"
        f'<xs:element name="NOIDUNGFILE" type="{contents_type}"/>'
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        f"{_SIGNATURE_HOLDER}"
        "</xs:sequence></xs:complexType></xs:element>\n</xs:schema>\n"
    )


def generated_files() -> dict[str, str]:
    """File name → XSD text of every schema we ship."""
    files = {"GIAMDINHHS.xsd": envelope_xsd_text()}
    for tbl in all_tables():
        if tbl.name == "XML13":
            variant = "_3176" if "MA_CSKCB_DI" in tbl.field_names else "_4750"
            files[f"XML13{variant}.xsd"] = xsd_text(tbl, variant)
        else:
            files[f"{tbl.name}.xsd"] = xsd_text(tbl)
    return files


@functools.cache
def schema(file_name: str) -> etree.XMLSchema:
    """The shipped XSD ``file_name`` (parsed safely, cached per process)."""
    data = (resources.files("claims") / "validate" / "xsd" / file_name).read_bytes()
    return etree.XMLSchema(parse_xml(data, what=file_name))


@functools.cache
def envelope_schema_without_contents() -> etree.XMLSchema:
    """The envelope XSD with NOIDUNGFILE as plain text: for an envelope whose every
    NOIDUNGFILE was already found to be canonical base64 (parse.canonical_base64) it gives the
    shipped XSD's verdict without scanning the base64 once more. Built in memory from the same
    generator, so the two cannot drift apart."""
    text = envelope_xsd_text(contents_type="xs:string")
    return etree.XMLSchema(parse_xml(text.encode("utf-8"), what="GIAMDINHHS (contents as text)"))


def all_schemas() -> list[etree.XMLSchema]:
    """Every shipped XSD, compiled (cached per process)."""
    envelope_schema_without_contents()
    return [schema(name) for name in generated_files()]


def schema_for_table(name: str, root: etree._Element | None = None) -> etree.XMLSchema:
    """XSD of table ``name``; for XML13 the variant is chosen by the document's elements."""
    if name == "XML13":
        is_3176 = root is not None and root.find("MA_CSKCB_DI") is not None
        return schema("XML13_3176.xsd" if is_3176 else "XML13_4750.xsd")
    return schema(f"{name}.xsd")


def xsd_errors(xsd: etree.XMLSchema, root: etree._Element) -> list[str]:
    """Messages of the XSD errors of ``root`` (empty when valid)."""
    if xsd.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in xsd.error_log]


def write_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in generated_files().items():
        (folder / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write_files(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "xsd")
