"""XML Signature of claim files and check-in documents (spec §2.6).

Enveloped W3C XMLDSig over the whole document (Reference URI=""), RSA-SHA256, SHA-256 digest,
inclusive C14N, the signer certificate in KeyInfo/X509Data, and the Signature element placed
inside CHUKYDONVI. The key comes from the hospital's PKCS#12 file; there is no default password,
and signing is refused without one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidInput, InvalidSignature

from claims import spec
from claims.errors import SignatureInvalid, SigningUnavailable

DS_NS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class SigningKey:
    """The hospital's private key and certificate chain, loaded once per run (loading an RSA
    key checks it, which costs more than a signature)."""

    key: RSAPrivateKey
    chain: list[x509.Certificate]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


def load_signing_key(path: Path | None, password: str | None) -> SigningKey:
    """Open the PKCS#12 file; raises SigningUnavailable when it cannot be used to sign."""
    if path is None:
        raise SigningUnavailable("claims.certificate_path is not set")
    if not password:
        raise SigningUnavailable("claims.certificate_password is not set; refusing to sign")
    try:
        data = path.read_bytes()
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except (OSError, ValueError) as exc:
        raise SigningUnavailable(f"cannot open the PKCS#12 certificate: {exc}") from exc
    if not isinstance(key, RSAPrivateKey) or cert is None:
        raise SigningUnavailable("the PKCS#12 file must hold an RSA key and its certificate")
    return SigningKey(key, [cert, *(extra or [])])


def _signer() -> XMLSigner:
    return XMLSigner(
        signature_algorithm=SignatureMethod(spec.SIGNATURE_METHOD),
        digest_algorithm=DigestAlgorithm(spec.DIGEST_METHOD),
        c14n_algorithm=CanonicalizationMethod(spec.C14N_METHOD),
    )


def sign_document(root: etree._Element, key: SigningKey) -> etree._Element:
    """A signed copy of ``root`` (GIAMDINHHS or CHI_TIEU_TRANG_THAI_KCB), Signature in CHUKYDONVI.

    RSA PKCS#1 v1.5 signatures are deterministic, so the same document and key give the same
    bytes (export idempotence).
    """
    holder = root.find("CHUKYDONVI")
    if holder is None:
        holder = etree.SubElement(root, "CHUKYDONVI")
    for old in list(holder):
        holder.remove(old)
    etree.SubElement(holder, f"{{{DS_NS}}}Signature", Id="placeholder", nsmap={"ds": DS_NS})
    signed: etree._Element = _signer().sign(root, key=key.key, cert=key.chain,
                                            always_add_key_value=False)
    return signed


def verify_document(root: etree._Element, certificate: x509.Certificate | None = None
                    ) -> x509.Certificate:
    """Verify the signature in CHUKYDONVI; returns the signer certificate.

    With ``certificate`` the signature must be by that certificate; without it, by the
    certificate embedded in KeyInfo (integrity only: trust is the portal's registry, §2.6).
    Raises SignatureInvalid.
    """
    holder = root.find("CHUKYDONVI")
    if holder is None or holder.find(f"{{{DS_NS}}}Signature") is None:
        raise SignatureInvalid("no Signature inside CHUKYDONVI")
    if certificate is None:
        embedded = holder.find(f".//{{{DS_NS}}}X509Certificate")
        if embedded is None or not embedded.text:
            raise SignatureInvalid("the signature carries no X509Certificate")
        try:
            certificate = x509.load_der_x509_certificate(
                base64.b64decode("".join(embedded.text.split())))
        except ValueError as exc:
            raise SignatureInvalid(f"unreadable X509Certificate: {exc}") from exc
    try:
        XMLVerifier().verify(root, x509_cert=certificate, expect_config=_EXPECT)
    except (InvalidSignature, InvalidInput) as exc:
        raise SignatureInvalid(f"signature does not verify: {exc}") from exc
    return certificate


_EXPECT = SignatureConfiguration(
    signature_methods=frozenset({SignatureMethod(spec.SIGNATURE_METHOD)}),
    digest_algorithms=frozenset({DigestAlgorithm(spec.DIGEST_METHOD)}),
)
