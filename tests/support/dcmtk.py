"""Run DCMTK's command-line tools as the real DICOM peer."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

# storescu proposes uncompressed syntaxes unless told which compressed one to propose.
STORESCU_PROPOSE = {
    "1.2.840.10008.1.2": "-xi",
    "1.2.840.10008.1.2.1": "-xe",
    "1.2.840.10008.1.2.2": "-xb",
    "1.2.840.10008.1.2.1.99": "-xd",
    "1.2.840.10008.1.2.4.50": "-xy",
    "1.2.840.10008.1.2.4.51": "-xx",
    "1.2.840.10008.1.2.4.70": "-xs",
    "1.2.840.10008.1.2.4.80": "-xt",
    "1.2.840.10008.1.2.4.81": "-xu",
    "1.2.840.10008.1.2.4.90": "-xv",
    "1.2.840.10008.1.2.4.91": "-xw",
    "1.2.840.10008.1.2.5": "-xr",
}


# Debian's DCMTK keeps Nagle's algorithm on unless TCP_NODELAY=1 is set, which makes each DIMSE
# round trip wait ~40 ms for delayed ACKs on loopback; the tests don't need to wait for that.
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"DCMTK's {tool} is not installed (the test set-up installs dcmtk)")
    return path


def echoscu(port: int, calling: str = "TESTSCU", called: str = "LIENTHONG") -> bool:
    result = subprocess.run(
        [require("echoscu"), "-aet", calling, "-aec", called, "-to", "5", "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        env=DCMTK_ENV,
    )
    return result.returncode == 0


def storescu(
    port: int,
    files: Sequence[Path],
    *,
    transfer_syntax: str | None = None,
    calling: str = "TESTSCU",
    called: str = "LIENTHONG",
    extra: Sequence[str] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Send files in one association; -v so each response status is printed."""
    args = [require("storescu"), "-v", "-aet", calling, "-aec", called, "-nh"]
    if transfer_syntax is not None:
        args.append(STORESCU_PROPOSE[transfer_syntax])
    args += [*extra, "127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=DCMTK_ENV)


def store_responses(output: str) -> list[tuple[str, str]]:
    """(file sent, response text) pairs from `storescu -v` output, in sending order.

    storescu prints "Sending file: <path>" before each C-STORE and "Received Store Response
    (<status>)" after it; a file whose association broke off gets no response line.
    """
    pairs: list[tuple[str, str]] = []
    current: str | None = None
    for line in output.splitlines():
        if "Sending file: " in line:
            current = line.split("Sending file: ", 1)[1].strip()
        elif "Received Store Response (" in line and current is not None:
            pairs.append((current, line.split("Received Store Response (", 1)[1].rstrip(")")))
            current = None
    return pairs
