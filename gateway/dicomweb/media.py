"""Content negotiation for DICOMweb retrieve (PS3.18 8.7): Accept header → what we send.

Each function returns a decision or raises :class:`NotAcceptable` (HTTP 406), before any byte of
the response is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.uid import UID, ExplicitVRLittleEndian

from gateway.dicomweb.multipart import split_unquoted

ANY_SYNTAX = "*"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
DICOM_JSON = "application/dicom+json"

# PS3.18 Table 8.7.3-5: the single-frame media type of each compressed transfer syntax.
FRAME_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


class NotAcceptable(ValueError):
    """No representation we can produce matches the Accept header (HTTP 406)."""


class UnsupportedMediaType(ValueError):
    """A request body we do not take: not multipart/related of application/dicom (HTTP 415)."""


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def part_type(self) -> str:
        """For multipart/related, the media type of the parts (``type`` parameter)."""
        return self.params.get("type", "").lower()

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")


def parse_accept(header: str | None) -> list[MediaRange]:
    """Entries of an Accept header, best first (q=0 dropped); ``*/*`` when absent."""
    if not header or not header.strip():
        return [MediaRange("*/*")]
    ranges: list[MediaRange] = []
    for entry in split_unquoted(header, ","):
        if not entry:
            continue
        pieces = split_unquoted(entry, ";")
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            name, sep, value = piece.partition("=")
            if sep:
                params[name.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if q > 0:
            ranges.append(MediaRange(pieces[0].lower(), params, q))
    return sorted(ranges, key=lambda r: -r.q)


def _is_multipart(r: MediaRange) -> bool:
    return r.media_type in ("multipart/related", "multipart/*", "*/*")


def instance_syntaxes(accept: str | None) -> list[str]:
    """Transfer syntaxes acceptable for application/dicom parts, in order of preference.

    ``*`` means "as stored"; without a transfer-syntax parameter the default is Explicit VR Little
    Endian (PS3.18 8.7.3.5.2).
    """
    choices: list[str] = []
    for r in parse_accept(accept):
        if r.media_type == DICOM or (
            _is_multipart(r) and r.part_type in ("", DICOM, "application/*", "*/*")
        ):
            choices.append(r.transfer_syntax or ExplicitVRLittleEndian)
    if not choices:
        raise NotAcceptable('Accept does not allow multipart/related; type="application/dicom"')
    return choices


@dataclass(frozen=True)
class FrameChoice:
    """How frames are sent: the part media type and the transfer syntax of their bytes."""

    media_type: str
    transfer_syntax: str

    @property
    def uncompressed(self) -> bool:
        return not UID(self.transfer_syntax).is_compressed


def frame_choice(accept: str | None, stored: str) -> FrameChoice:
    """Pick the frame representation (PS3.18 8.7.3.3.2) for an instance stored in `stored`."""
    stored_uid = UID(stored)
    stored_media = FRAME_MEDIA_TYPES.get(stored, OCTET_STREAM)
    native = FrameChoice(OCTET_STREAM, ExplicitVRLittleEndian)
    as_stored = FrameChoice(stored_media, stored) if stored_uid.is_compressed else native
    for r in parse_accept(accept):
        if r.media_type in ("*/*", "multipart/*"):
            return as_stored if r.transfer_syntax == ANY_SYNTAX else native
        if r.media_type != "multipart/related":
            continue
        part, ts = r.part_type, r.transfer_syntax
        if part in (OCTET_STREAM, "", "*/*"):
            if ts == ANY_SYNTAX:
                return as_stored
            if ts in (None, ExplicitVRLittleEndian):
                return native
            if ts == stored:
                return as_stored
        elif part == stored_media or (part.endswith("/*") and stored_media.startswith(part[:-1])):
            if ts in (None, ANY_SYNTAX, stored):
                return as_stored
    raise NotAcceptable(f"frames are available as stored ({stored}) or uncompressed only")


RENDERED_TYPES = ("image/jpeg", "image/png")


def rendered_type(accept: str | None) -> str:
    """image/jpeg (default) or image/png for rendered resources (PS3.18 8.3.5.1)."""
    for r in parse_accept(accept):
        if r.media_type in RENDERED_TYPES:
            return r.media_type
        if r.media_type in ("*/*", "image/*"):
            return "image/jpeg"
        if r.media_type == "multipart/related" and r.part_type in RENDERED_TYPES:
            return r.part_type
    raise NotAcceptable("rendered resources are available as image/jpeg or image/png")
