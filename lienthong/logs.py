"""Logging set-up shared by every process (one line per event, no patient names)."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s",
        force=True,
    )
    # pynetdicom logs every PDU at INFO; keep its association summaries only.
    logging.getLogger("pynetdicom").setLevel(max(logging.WARNING, logging.getLogger().level))
