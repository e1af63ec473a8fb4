"""multipart/related (RFC 2387) as DICOMweb uses it (PS3.18 8.6.1.2): writing and stream-reading.

The writer yields a body part by part so that a study is never held in memory. The reader parses
the request stream incrementally: it keeps at most one body part (bounded by ``max_part_bytes``)
plus one network chunk in memory, and yields each part as soon as its closing delimiter arrives.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field

CRLF = b"\r\n"
READ_CHUNK = 1024 * 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart/related (missing boundary, bad part headers)."""


class PartTooLarge(MultipartError):
    """A body part exceeds the configured size limit."""


def new_boundary() -> str:
    return f"lienthong-{secrets.token_hex(16)}"


def content_type_header(part_type: str, boundary: str, transfer_syntax: str | None = None) -> str:
    """The response Content-Type: ``multipart/related; type="…"; boundary=…``."""
    value = f'multipart/related; type="{part_type}"; boundary={boundary}'
    if transfer_syntax:
        value += f"; transfer-syntax={transfer_syntax}"
    return value


@dataclass
class OutPart:
    """One response body part: its headers and its content, as chunks."""

    content_type: str
    chunks: Iterable[bytes]
    location: str | None = None


def write_parts(parts: Iterable[OutPart], boundary: str) -> Iterator[bytes]:
    """Encode parts as a multipart body, lazily (parts are produced while the body is sent)."""
    marker = b"--" + boundary.encode("ascii")
    for part in parts:
        head = marker + CRLF + b"Content-Type: " + part.content_type.encode("ascii") + CRLF
        if part.location:
            head += b"Content-Location: " + part.location.encode("ascii") + CRLF
        yield head + CRLF
        yield from part.chunks
        yield CRLF
    yield marker + b"--" + CRLF


def file_chunks(fileobj: object, size: int = READ_CHUNK) -> Iterator[bytes]:
    """Read an open binary file in chunks and close it at the end (or when abandoned)."""
    read = fileobj.read  # type: ignore[attr-defined]
    try:
        while chunk := read(size):
            yield chunk
    finally:
        fileobj.close()  # type: ignore[attr-defined]


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type; raises MultipartError."""
    params = media_params(content_type)
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise MultipartError("multipart Content-Type without a valid boundary parameter")
    return boundary


def media_params(value: str) -> dict[str, str]:
    """Parameters of one media type value, names lower-cased, quotes removed."""
    params: dict[str, str] = {}
    for item in _split_unquoted(value, ";")[1:]:
        name, sep, val = item.partition("=")
        if sep:
            params[name.strip().lower()] = val.strip().strip('"')
    return params


def _split_unquoted(value: str, sep: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return [s.strip() for s in out]


def split_unquoted(value: str, sep: str) -> list[str]:
    """Split a header value on `sep` outside double quotes (for Accept lists)."""
    return _split_unquoted(value, sep)


@dataclass
class InPart:
    """One received body part: lower-cased header names, and the content."""

    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_parts(
    stream: AsyncIterator[bytes], boundary: str, *, max_part_bytes: int
) -> AsyncIterator[InPart]:
    """Yield the parts of a multipart body read from `stream`, one at a time.

    Raises MultipartError when the body is malformed (no opening delimiter, headers without a
    blank line, missing closing delimiter) and PartTooLarge when a part exceeds the limit.
    """
    delimiter = CRLF + b"--" + boundary.encode("ascii")
    buffer = bytearray(CRLF)  # the first delimiter may start the body without a CRLF
    started = False
    finished = False
    scan_from = 0
    async for chunk in stream:
        if finished:
            continue  # epilogue: ignored (RFC 2046 5.1.1)
        buffer += chunk
        while True:
            index = buffer.find(delimiter, scan_from)
            if index < 0:
                if len(buffer) > max_part_bytes + 64 * 1024:
                    raise PartTooLarge(f"a body part exceeds {max_part_bytes} bytes")
                scan_from = max(0, len(buffer) - len(delimiter))
                break
            after = index + len(delimiter)
            if len(buffer) < after + 2:
                scan_from = index
                break  # need the two bytes that say "--" (close) or CRLF (next part)
            if started:
                yield _parse_part(bytes(buffer[:index]))
            started = True
            if buffer[after : after + 2] == b"--":
                finished = True
                del buffer[:]
                break
            line_end = buffer.find(CRLF, after)
            if line_end < 0:
                scan_from = index
                break
            del buffer[: line_end + 2]  # transport padding after the boundary is allowed
            scan_from = 0
    if not started:
        raise MultipartError("body has no multipart delimiter matching the boundary")
    if not finished:
        raise MultipartError("body ends before the closing multipart delimiter")


def _parse_part(raw: bytes) -> InPart:
    if raw.startswith(CRLF):  # a part without headers (RFC 2046 5.1.1)
        return InPart({}, raw[2:])
    head_end = raw.find(CRLF + CRLF)
    if head_end < 0:
        raise MultipartError("body part without the blank line that ends its headers")
    headers: dict[str, str] = {}
    for line in raw[:head_end].split(CRLF):
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise MultipartError("malformed body part header line")
        headers[name.strip().lower()] = value.strip()
    return InPart(headers, raw[head_end + 4 :])
