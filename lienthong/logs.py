"""Logging set-up shared by every process (one line per event, no patient names)."""

from __future__ import annotations

import logging
import warnings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s",
        force=True,
    )
    # pydicom's value warnings quote the offending value, which may be a patient's name: they
    # stay out of the logs (the archive stores such datasets as received; see ingest).
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom\.")
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    # pynetdicom logs every PDU at INFO; keep its association summaries only.
    logging.getLogger("pynetdicom").setLevel(max(logging.WARNING, logging.getLogger().level))
