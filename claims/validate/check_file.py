"""``claims validate``: check any QĐ 130 claim file (ours or another vendor's), report violations.

Layers (spec §8.1): safe parse → envelope XSD and counts → per-table XSD → pre-check rules per
episode → the signature in CHUKYDONVI (verified against its embedded certificate).
"""

from __future__ import annotations

from claims.codes import CodeLists
from claims.errors import SignatureInvalid
from claims.sign import verify_document
from claims.tables import table
from claims.validate.parse import ClaimFile, episode_from_documents, parse_claim_file
from claims.validate.rules import check_episode
from claims.validate.schema import (
    LOAIHOSO_VALUES,
    envelope_schema_without_contents,
    schema,
    schema_for_table,
    xsd_errors,
)
from claims.validate.violations import Violation


def _v(lk: str, tbl: str, rule: str, expected: str, vi: str, en: str) -> Violation:
    return Violation(lk, tbl, None, "", rule, expected, vi, en)


def envelope_xsd_errors(claim: ClaimFile) -> list[str]:
    """The envelope's XSD messages (none when valid)."""
    if claim.contents_canonical and envelope_schema_without_contents().validate(claim.root):
        return []  # the base64Binary checks were made while decoding (parse.canonical_base64)
    return xsd_errors(schema("GIAMDINHHS.xsd"), claim.root)


def check_claim_file(data: bytes, codes: CodeLists, *, verify_signature: bool = True
                     ) -> list[Violation]:
    """Every violation found in the claim file ``data``. Raises UnsafeXml for refused input."""
    claim = parse_claim_file(data)
    out: list[Violation] = []
    for message in envelope_xsd_errors(claim):
        out.append(_v("", "GIAMDINHHS", "S01-XSD", "valid per XSD", f"XSD: {message}",
                      f"XSD: {message}"))
    if claim.declared_count != str(len(claim.episodes)):
        out.append(_v("", "GIAMDINHHS", "S02-ENVELOPE", str(len(claim.episodes)),
                      "SOLUONGHOSO khác số HOSO", "SOLUONGHOSO differs from the HOSO count"))
    for docs in claim.episodes:
        names = [d.name for d in docs]
        lk = ""
        for d in docs:
            if d.root is not None and d.name == "XML1":
                lk = (d.root.findtext("MA_LK") or "")
        for d in docs:
            if names.count(d.name) > 1 or d.name not in LOAIHOSO_VALUES:
                out.append(_v(lk, d.name, "S02-ENVELOPE", "unique XML1…XML15 (not XML12)",
                              "LOAIHOSO trùng hoặc không hợp lệ", "LOAIHOSO repeated or invalid"))
                continue
            if d.problem or d.root is None:
                out.append(_v(lk, d.name, "S02-ENVELOPE", "base64 of a well-formed document",
                              f"NOIDUNGFILE lỗi: {d.problem}", f"NOIDUNGFILE: {d.problem}"))
                continue
            if d.root.tag != table(d.name).root:
                out.append(_v(lk, d.name, "S02-ENVELOPE", table(d.name).root,
                              "phần tử gốc không khớp LOAIHOSO",
                              "root element does not match LOAIHOSO"))
                continue
            problems = xsd_errors(schema_for_table(d.name, d.root), d.root)
            for message in problems:
                out.append(_v(lk, d.name, "S01-XSD", "valid per XSD", f"XSD: {message}",
                              f"XSD: {message}"))
            if not problems and d.name != "XML13":  # XML13's fields depend on its variant
                d.shape = table(d.name)
        if "XML1" not in names:
            out.append(_v(lk, "XML1", "S03-ONE-XML1", "1", "thiếu XML1", "XML1 missing"))
            continue
        try:
            episode = episode_from_documents(docs)
        except Exception as exc:
            out.append(_v(lk, "XML1", "S03-ONE-XML1", "1", str(exc), str(exc)))
            continue
        out.extend(check_episode(episode, codes))
    if verify_signature:
        try:
            verify_document(claim.root)
        except SignatureInvalid as exc:
            out.append(_v("", "CHUKYDONVI", "S04-SIGNATURE", "a valid XML signature",
                          f"chữ ký số không hợp lệ: {exc}", f"signature: {exc}"))
    return out
