"""pacs.index.ingest.parse_dataset: every value read before Success, and the DICOM JSON with it.

pydicom converts a value only when it is read. The DICOM JSON built at ingest reads every value
at every depth, so it is also the check; these tests pin that a value pydicom cannot decode,
at the top level or inside a sequence item, still refuses the dataset, and that one it decodes
but cannot put in JSON is kept (left out of the metadata only).
"""

from __future__ import annotations

import json

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from pacs.errors import UndecodableDataset
from pacs.index.attributes import BULK_THRESHOLD
from pacs.index.ingest import parse_dataset
from tests.pacs.test_encoding import EXPLICIT_LE, explicit, explicit_sq_undefined, item

UIDS = explicit(0x0008, 0x0016, "UI", b"1.2.3\0") + explicit(0x0008, 0x0018, "UI", b"1.2.4\0")
ROWS_THREE_BYTES = explicit(0x0028, 0x0010, "US", b"\x01\x02\x03")  # US is 2 bytes a value
INSTANCE_NUMBER_1A = explicit(0x0020, 0x0013, "IS", b"1A")


def test_metadata_is_pydicoms_dicom_json_of_every_element() -> None:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.3", "1.2.4"
    ds.PatientName = "Nguyen^An"
    ds.Rows, ds.Columns = 2, 2
    ds.ReferencedSeriesSequence = [Dataset()]
    ds.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.5"
    ds.EncapsulatedDocument = b"\0" * (BULK_THRESHOLD + 2)
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)

    parsed = parse_dataset(buffer.getvalue(), EXPLICIT_LE)

    metadata = json.loads(parsed.metadata_json)
    assert metadata["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Nguyen^An"}]}
    assert metadata["00081115"]["Value"][0]["0020000E"]["Value"] == ["1.2.5"]
    assert metadata["00420011"] == {"vr": "OB", "BulkDataURI": "bulkdata/00420011"}
    assert parsed.dataset.Rows == 2


def test_a_value_pydicom_cannot_decode_refuses_the_dataset() -> None:
    with pytest.raises(UndecodableDataset, match=r"\(0028,0010\)"):
        parse_dataset(UIDS + ROWS_THREE_BYTES, EXPLICIT_LE)


def test_an_undecodable_value_inside_a_sequence_item_refuses_the_dataset() -> None:
    nested = explicit_sq_undefined(0x0008, 0x1115, item(ROWS_THREE_BYTES, defined=False))
    with pytest.raises(UndecodableDataset, match=r"\(0028,0010\)"):
        parse_dataset(UIDS + nested, EXPLICIT_LE)


def test_a_value_without_a_json_form_is_kept_and_left_out_of_the_metadata() -> None:
    parsed = parse_dataset(UIDS + INSTANCE_NUMBER_1A, EXPLICIT_LE)

    assert "00200013" not in json.loads(parsed.metadata_json)
    assert json.loads(parsed.metadata_json)["00080018"]["Value"] == ["1.2.4"]
    assert 0x00200013 in parsed.dataset
