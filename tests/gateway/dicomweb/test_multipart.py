"""The multipart/related reader and writer: round trip at every chunk size, preamble and
epilogue, limits and malformed bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.dicomweb.multipart import (
    InPart,
    MultipartError,
    OutPart,
    PartTooLarge,
    read_parts,
    write_parts,
)

PARTS = [b"first\r\n--not-the-boundary", b"", b"\r\n\r\n" + bytes(range(256)) * 40]


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _read(data: bytes, size: int, limit: int = 1 << 20) -> list[InPart]:
    async def collect() -> list[InPart]:
        return [p async for p in read_parts(_chunks(data, size), "b0und", max_part_bytes=limit)]

    return asyncio.run(collect())


@pytest.mark.parametrize("size", [1, 2, 7, 64, 4096, 1 << 20])
def test_round_trip_at_any_chunk_size(size: int) -> None:
    body = b"".join(write_parts([OutPart("application/dicom", [p]) for p in PARTS], "b0und"))
    parts = _read(b"preamble\r\n" + body + b"epilogue", size)
    assert [p.body for p in parts] == PARTS
    assert {p.content_type for p in parts} == {"application/dicom"}


def test_part_over_the_limit_is_refused() -> None:
    body = b"".join(write_parts([OutPart("application/dicom", [b"x" * 200_000])], "b0und"))
    with pytest.raises(PartTooLarge):
        _read(body, 4096, limit=1000)


@pytest.mark.parametrize(
    "body",
    [
        b"no delimiter at all",
        b"--b0und\r\nContent-Type: application/dicom\r\n\r\nabc",  # never closed
        b"--b0und\r\nContent-Type application/dicom\r\n\r\nabc\r\n--b0und--",  # bad header
        b"--b0und\r\nContent-Type: application/dicom\r\nabc\r\n--b0und--",  # no blank line
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MultipartError):
        _read(body, 5)
