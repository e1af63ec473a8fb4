"""C-ECHO / C-STORE against a running `lienthong serve`, with DCMTK as the peer."""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from pacs.index.ingest import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, file_meta
from tests.support.dcmtk import echoscu, storescu
from tests.support.scu import send_file
from tests.support.server import LienthongServer, lienthong

MALFORMED = "malformed"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LienthongServer]:
    data_dir = tmp_path_factory.mktemp("scp") / "data"
    lienthong(data_dir, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104")
    srv = LienthongServer(data_dir).start()
    yield srv
    assert srv.stop() == 0


def good_files(shared: Path) -> list[Path]:
    return sorted(p for p in shared.rglob("*.dcm") if MALFORMED not in p.parts)


def by_transfer_syntax(files: list[Path]) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
        groups[str(meta.TransferSyntaxUID)].append(path)
    return groups


def comparable(ds: pydicom.Dataset) -> pydicom.Dataset:
    """The dataset without what storescu itself changes in transit: it drops trailing padding
    and group lengths, and pads an odd-length Pixel Data value to even length."""
    for tag in [t for t in ds.keys() if t == 0xFFFCFFFC or t.element == 0]:
        del ds[tag]
    if "PixelData" in ds and len(ds.PixelData) % 2:
        ds.PixelData = ds.PixelData + b"\x00"
    return ds


def stored_studies(server: LienthongServer) -> list[dict[str, object]]:
    return json.loads(lienthong(server.data_dir, "studies", "--json").stdout)


def test_echo_from_known_ae(server: LienthongServer) -> None:
    assert echoscu(server.dicom_port, "TESTSCU")


def test_unknown_calling_ae_is_refused(server: LienthongServer) -> None:
    assert not echoscu(server.dicom_port, "STRANGER")


def test_ae_added_while_running_is_accepted_without_restart(server: LienthongServer) -> None:
    assert not echoscu(server.dicom_port, "NEWCOMER")
    lienthong(server.data_dir, "ae", "add", "NEWCOMER", "--host", "127.0.0.1", "--port", "104")
    # The peer table is read per association (cached for at most one second).
    import time

    deadline = time.monotonic() + 10
    while not echoscu(server.dicom_port, "NEWCOMER"):
        assert time.monotonic() < deadline, "new peer not accepted within 10 s"
        time.sleep(0.5)
    lienthong(server.data_dir, "ae", "remove", "NEWCOMER")


def test_every_shared_file_is_stored_byte_for_byte(
    server: LienthongServer, shared_dicom: Path
) -> None:
    files = good_files(shared_dicom)
    for ts, group in by_transfer_syntax(files).items():
        result = storescu(server.dicom_port, group, transfer_syntax=ts)
        # storescu 3.6.7 does not know every storage SOP class (e.g. Comprehensive 3D SR):
        # those few files go through pynetdicom, still unchanged.
        unknown = set(re.findall(r"No presentation context for: \(\w+\) ([\d.]+)", result.stderr))
        via_pynetdicom = [p for p in group if pydicom.dcmread(p).SOPClassUID in unknown]
        successes = result.stderr.count("Received Store Response (Success)")
        assert successes == len(group) - len(via_pynetdicom), result.stderr
        for path in via_pynetdicom:
            assert send_file(server.dicom_port, path) == 0, path.name

    from sqlalchemy import select

    from lienthong.db import make_engine, make_sessionmaker
    from pacs.index.models import Instance

    engine = make_engine(f"sqlite:///{server.data_dir / 'index.sqlite3'}")
    with make_sessionmaker(engine)() as session:
        rows = {r.sop_instance_uid: r for r in session.scalars(select(Instance))}
    engine.dispose()
    for path in files:
        original = pydicom.dcmread(path)
        row = rows[original.SOPInstanceUID]
        assert row.transfer_syntax_uid == original.file_meta.TransferSyntaxUID
        assert row.sop_class_uid == original.SOPClassUID
        key = row.file_key
        stored_path = server.data_dir / "objects" / key[:2] / key[2:4] / key
        stored = pydicom.dcmread(stored_path)
        assert stored.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
        assert stored.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        # Same dataset, element for element (pixel data included, never transcoded).
        assert comparable(stored) == comparable(original), path.name

    studies = stored_studies(server)
    ct = next(s for s in studies if s["patient_name"] == "REMOVED")
    assert ct["instances"] == 28 and ct["modalities"] == "CT"


@pytest.mark.parametrize(("sop_class", "sop_instance", "syntax", "source"), [
    ("1.2.840.10008.5.1.4.1.1.2", "1.2.3", "1.2.840.10008.1.2.1", "CT01"),
    ("1.2.840.10008.5.1.4.1.1.4", "1.2.826.0.1.3680043.10.1446.12", "1.2.840.10008.1.2.4.90",
     "MR_STATION"),
    ("1.2.840.10008.5.1.4.1.1.1.1", "2.25.1234567", "1.2.840.10008.1.2", ""),
])
def test_file_meta_bytes_equal_pydicom(sop_class: str, sop_instance: str, syntax: str,
                                       source: str) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if source:
        meta.SourceApplicationEntityTitle = source
    expected = io.BytesIO()
    write_file_meta_info(expected, meta, enforce_standard=True)  # type: ignore[arg-type]
    assert file_meta(sop_class, sop_instance, syntax, source) == expected.getvalue()
