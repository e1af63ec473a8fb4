"""Signature in CHUKYDONVI: verification with the test certificate, tamper detection, refusal
without a password."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from claims.build.checkin import build_checkin
from claims.build.document import serialise
from claims.build.envelope import build_claim_file
from claims.errors import SignatureInvalid, SigningUnavailable
from claims.records.episode import EpisodeRecord
from claims.sign import DS_NS, SigningKey, load_signing_key, sign_document, verify_document
from claims.validate.safexml import parse_xml
from claims.validate.schema import schema, xsd_errors
from tests.support.certs import make_pkcs12

DAY = dt.date(2026, 12, 1)


def signed_bytes(episode: EpisodeRecord, key: SigningKey) -> bytes:
    return serialise(sign_document(build_claim_file(episode, "79001", DAY)[0], key))


def test_signature_sits_in_chukydonvi_and_verifies(
    episode: EpisodeRecord, signing_key: SigningKey, p12: tuple[Path, x509.Certificate]
) -> None:
    data = signed_bytes(episode, signing_key)
    root = parse_xml(data)
    assert xsd_errors(schema("GIAMDINHHS.xsd"), root) == []
    holder = root.find("CHUKYDONVI")
    assert holder is not None and root[-1] is holder
    signature = holder.find(f"{{{DS_NS}}}Signature")
    assert signature is not None
    assert signature.find(f".//{{{DS_NS}}}SignatureMethod").get("Algorithm") == (  # type: ignore[union-attr]
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    assert signature.find(f".//{{{DS_NS}}}Reference").get("URI") == ""  # type: ignore[union-attr]
    transforms = [t.get("Algorithm") for t in signature.iter(f"{{{DS_NS}}}Transform")]
    assert "http://www.w3.org/2000/09/xmldsig#enveloped-signature" in transforms
    assert verify_document(root, p12[1]) == p12[1]
    assert verify_document(parse_xml(data)) == p12[1]


def test_same_document_same_key_gives_the_same_bytes(episode: EpisodeRecord,
                                                     signing_key: SigningKey) -> None:
    assert signed_bytes(episode, signing_key) == signed_bytes(episode, signing_key)


@pytest.mark.parametrize("change", [
    (b"<NGAYLAP>20261201</NGAYLAP>", b"<NGAYLAP>20261202</NGAYLAP>"),
    (b"<MACSKCB>79001</MACSKCB>", b"<MACSKCB>79002</MACSKCB>"),
    (b"<LOAIHOSO>XML2</LOAIHOSO>", b"<LOAIHOSO>XML5</LOAIHOSO>"),
])
def test_tampering_is_detected(episode: EpisodeRecord, signing_key: SigningKey,
                               change: tuple[bytes, bytes]) -> None:
    data = signed_bytes(episode, signing_key)
    assert change[0] in data
    with pytest.raises(SignatureInvalid):
        verify_document(parse_xml(data.replace(*change)))


def test_tampered_table_content_is_detected(episode: EpisodeRecord,
                                            signing_key: SigningKey) -> None:
    root = parse_xml(signed_bytes(episode, signing_key))
    content = root.find(".//NOIDUNGFILE")
    assert content is not None and content.text
    content.text = content.text[:-8] + ("A" * 8 if not content.text.endswith("A" * 8) else "B" * 8)
    with pytest.raises(SignatureInvalid):
        verify_document(parse_xml(etree.tostring(root)))


def test_other_certificate_and_unsigned_file_fail(
    episode: EpisodeRecord, signing_key: SigningKey, tmp_path: Path
) -> None:
    other = make_pkcs12(tmp_path / "other.p12", "x")
    data = signed_bytes(episode, signing_key)
    with pytest.raises(SignatureInvalid):
        verify_document(parse_xml(data), other)
    unsigned = serialise(build_claim_file(episode, "79001", DAY)[0])
    with pytest.raises(SignatureInvalid):
        verify_document(parse_xml(unsigned))


def test_checkin_document_is_signed_separately(episode: EpisodeRecord, signing_key: SigningKey,
                                               p12: tuple[Path, x509.Certificate]) -> None:
    root = parse_xml(serialise(sign_document(build_checkin([episode]), signing_key)))
    assert verify_document(root, p12[1]) == p12[1]


def test_signing_is_refused_without_password_or_with_a_wrong_one(
    p12: tuple[Path, x509.Certificate]
) -> None:
    with pytest.raises(SigningUnavailable, match="password"):
        load_signing_key(p12[0], None)
    with pytest.raises(SigningUnavailable, match="password"):
        load_signing_key(p12[0], "")
    with pytest.raises(SigningUnavailable):
        load_signing_key(p12[0], "wrong")
    with pytest.raises(SigningUnavailable):
        load_signing_key(None, "x")


def test_settings_have_no_default_password() -> None:
    from lienthong.settings import ClaimsSettings

    assert ClaimsSettings().certificate_password is None
