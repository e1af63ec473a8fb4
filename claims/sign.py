"""XML Signature of claim files and check-in documents (spec §2.6).

Enveloped W3C XMLDSig over the whole document (Reference URI=""), RSA-SHA256, SHA-256 digest,
inclusive C14N, the signer certificate in KeyInfo/X509Data, and the Signature element placed
inside CHUKYDONVI. The key comes from the hospital's PKCS#12 file; there is no default password,
and signing is refused without one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature as BadRsaSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree

from claims import spec
from claims.errors import SignatureInvalid, SigningUnavailable

if TYPE_CHECKING:
    from signxml import XMLSigner

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


# signxml is imported where it is used: ``claims validate`` of our own files never needs it
# (see _verify_own_profile), and importing it costs more than checking a hundred files.


def _signer() -> XMLSigner:
    from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

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
    if not _verify_own_profile(root, holder, certificate):
        from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
        from signxml.exceptions import InvalidInput, InvalidSignature

        expect = SignatureConfiguration(
            signature_methods=frozenset({SignatureMethod(spec.SIGNATURE_METHOD)}),
            digest_algorithms=frozenset({DigestAlgorithm(spec.DIGEST_METHOD)}),
        )
        try:
            XMLVerifier().verify(root, x509_cert=certificate, expect_config=expect)
        except (InvalidSignature, InvalidInput) as exc:
            raise SignatureInvalid(f"signature does not verify: {exc}") from exc
    return certificate


def _ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


def _bare(node: etree._Element | None, tag: str, algorithm: str) -> bool:
    return (node is not None and node.tag == _ds(tag) and node.get("Algorithm") == algorithm
            and len(node) == 0 and not (node.text or "").strip())


def _verify_own_profile(root: etree._Element, holder: etree._Element,
                        certificate: x509.Certificate) -> bool:
    """Verify a signature of exactly the §2.6 profile this module writes; False when the
    signature has any other shape (the caller then runs signxml's general verifier).

    signxml re-serialises and re-parses the whole document several times per call (a claim
    file is ~40 kB of base64), which made it most of ``claims validate``'s time. For the one
    profile we produce — one ds:Signature in CHUKYDONVI, inclusive C14N, RSA-SHA256, a single
    Reference URI="" with the enveloped-signature + C14N transforms and a SHA-256 digest, one
    X509Certificate — the check is done here with the same primitives: the C14N of SignedInfo
    must carry a valid RSA PKCS#1 v1.5 signature by ``certificate``, and the digest of the C14N
    of the document without that Signature element must equal DigestValue. Raises
    SignatureInvalid when a signature of this shape does not verify.
    """
    signatures = list(root.iter(_ds("Signature")))
    sig = holder.find(_ds("Signature"))
    if len(signatures) != 1 or sig is None or sig.attrib or sig.tail is not None:
        return False
    parts = [c for c in sig if isinstance(c.tag, str)]
    if len(parts) != len(sig) or [c.tag for c in parts] != \
            [_ds("SignedInfo"), _ds("SignatureValue"), _ds("KeyInfo")]:
        return False
    signed_info, value, key_info = parts
    if signed_info.attrib or len(signed_info) != 3:
        return False
    c14n, method, reference = signed_info
    if not (_bare(c14n, "CanonicalizationMethod", spec.C14N_METHOD)
            and _bare(method, "SignatureMethod", spec.SIGNATURE_METHOD)
            and reference.tag == _ds("Reference") and dict(reference.attrib) == {"URI": ""}
            and len(reference) == 3):
        return False
    transforms, digest_method, digest_value = reference
    if not (transforms.tag == _ds("Transforms") and len(transforms) == 2
            and _bare(transforms[0], "Transform", "http://www.w3.org/2000/09/xmldsig#"
                      "enveloped-signature")
            and _bare(transforms[1], "Transform", spec.C14N_METHOD)
            and _bare(digest_method, "DigestMethod", spec.DIGEST_METHOD)
            and digest_value.tag == _ds("DigestValue") and len(digest_value) == 0):
        return False
    certs = key_info.findall(f"{_ds('X509Data')}/{_ds('X509Certificate')}")
    if len(key_info) != 1 or len(key_info[0]) != 1 or len(certs) != 1:
        return False
    public_key = certificate.public_key()
    if not isinstance(public_key, RSAPublicKey):
        return False
    try:
        signature_value = base64.b64decode("".join((value.text or "").split()), validate=True)
        expected_digest = base64.b64decode("".join((digest_value.text or "").split()),
                                           validate=True)
    except ValueError as exc:
        raise SignatureInvalid(f"signature does not verify: bad base64 ({exc})") from exc
    try:
        public_key.verify(signature_value, etree.tostring(signed_info, method="c14n"),
                          padding.PKCS1v15(), hashes.SHA256())
    except BadRsaSignature as exc:
        # The same words as signxml's, so the report does not depend on which path ran.
        raise SignatureInvalid("signature does not verify: Signature verification failed: ") \
            from exc
    # Enveloped-signature transform: the document without the Signature element (it has no
    # tail text, checked above), then inclusive C14N without comments.
    index = holder.index(sig)
    holder.remove(sig)
    try:
        document = etree.tostring(root.getroottree(), method="c14n")
    finally:
        holder.insert(index, sig)
    if not hmac.compare_digest(hashlib.sha256(document).digest(), expected_digest):
        raise SignatureInvalid("signature does not verify: Digest mismatch for reference 0 ()")
    return True

