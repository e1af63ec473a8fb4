"""Logging set-up: JSON lines, and pydicom's value warnings (which may quote a patient's name)
kept out of the logs without being computed."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from lienthong.logs import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put pytest's handlers, the warning
    filters and pydicom's reading mode back (a handler left on this test's captured stderr
    would fail on every later log line once that stream is closed)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    mode = pydicom_config.settings._reading_validation_mode
    with warnings.catch_warnings():
        yield
    root.handlers[:] = handlers
    root.setLevel(level)
    pydicom_config.settings._reading_validation_mode = mode


def test_json_log_lines(restored_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logging.getLogger("gateway.test").warning("audit write failed (%s)", "OperationalError")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("gateway.test").exception("unexpected")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "gateway.test"
    assert first["message"] == "audit write failed (OperationalError)"
    assert "RuntimeError: boom" in second["exception"]


def _invalid_values() -> bytes:
    """An encoded dataset whose values break their VRs' rules (a name over 64 characters per
    component group, a date that is no date): pydicom's reading validation warns on both."""
    ds = Dataset()
    ds.PatientName = "NGUYEN^" + "VAN" * 30
    ds.StudyDate = "2026-13-45"
    ds.InstanceNumber = "7"
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    with pydicom_config.disable_value_validation():
        write_dataset(out, ds)
    return out.getvalue()


def _read_all(encoded: bytes) -> dict[str, object]:
    ds = read_dataset(io.BytesIO(encoded), is_implicit_VR=False, is_little_endian=True)
    return {e.keyword: e.value for e in ds.iterall()}


def test_value_checks_whose_warnings_are_dropped_are_not_run(restored_logging: None) -> None:
    encoded = _invalid_values()
    pydicom_config.settings.reading_validation_mode = pydicom_config.WARN
    with pytest.warns(UserWarning, match="PN|DA"):
        warned = _read_all(encoded)
    configure_logging("INFO")
    assert pydicom_config.settings.reading_validation_mode == pydicom_config.IGNORE
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning computed now would fail the read
        quiet = _read_all(encoded)
    # The same values as under the default mode: only the (discarded) warnings are gone.
    assert quiet == warned
    assert str(quiet["PatientName"]).startswith("NGUYEN^VAN") and quiet["InstanceNumber"] == 7
