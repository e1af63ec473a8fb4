"""Logging set-up shared by every process (one line per event, no patient names).

``fmt="json"`` writes one JSON object per line (time, level, logger, process, message, and the
traceback if any) for log shippers. Patient names never go into log lines: code logs UIDs,
AE titles, user names and statuses only, and the HTTP access log (which would carry query
strings such as ``PatientName=...``) is off.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings

from pydicom import config as pydicom_config

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # pydicom's value warnings quote the offending value, which may be a patient's name: they
    # stay out of the logs (the archive stores such datasets as received; see ingest).
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom\.")
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    # Those warnings are all that pydicom's default reading validation (WARN) produces, so it
    # is not run: IGNORE differs from WARN only in not warning (both decode the same values),
    # and the regular expressions it applies to every value read cost about a sixth of
    # parsing an instance on ingest.
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    # pynetdicom logs every PDU at INFO; keep its association summaries only.
    logging.getLogger("pynetdicom").setLevel(max(logging.WARNING, logging.getLogger().level))
