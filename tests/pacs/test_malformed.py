"""Every file of the shared malformed corpus against a running server, one row per file.

Broken datasets must get a failure status and leave nothing behind (no file under objects/, no
index row, nothing in tmp/); odd-but-valid ones are stored, with correct file meta; the duplicate
pairs the corpus README names exercise the duplicate policy; C-ECHO answers after every file.

DCMTK's storescu is the peer wherever it agrees to send the file. It refuses (before any
association) files it cannot parse itself or whose dataset holds no SOP Class/Instance UID; those
go through pynetdicom, which puts the file's own bytes on the wire unchanged.
"""

from __future__ import annotations

import enum
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import UID, generate_uid

from tests.support.archive import Snapshot, object_path, snapshot
from tests.support.dcmtk import STORESCU_PROPOSE, echoscu, store_responses, storescu
from tests.support.scu import send_encoded
from tests.support.server import LienthongServer, lienthong
from tests.support.synthetic import UID_ROOT, dataset_digest

SUCCESS = 0x0000
CANNOT_UNDERSTAND = 0xC210  # PS3.4 B.2.3 Error: Cannot understand
DOES_NOT_MATCH = 0xA900  # PS3.4 B.2.3 Error: Data Set does not match SOP Class

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


class Expect(enum.Enum):
    STORED = "stored: Success, one new file and index row"
    REFUSED = "refused: failure status, nothing stored"
    DUPLICATE = "duplicate: Success, nothing new kept (same content)"
    QUARANTINED = "quarantined: Success, first copy kept, this one in quarantined_instance"


class Peer(enum.Enum):
    STORESCU = "storescu"
    PYNETDICOM = "pynetdicom"


@dataclass(frozen=True)
class Row:
    case: str  # a file under the corpus, or "<file>+<variant>" for a derived dataset
    expect: Expect
    status: int
    peer: Peer
    reason: str


# One row per file of malformed/ (plus the other half of each duplicate pair and a few
# datasets derived from the fragments), in the order they are sent: duplicates depend on it.
ROWS: tuple[Row, ...] = (
    Row("transfer_syntaxes/nm_jpeg_extended_12bit.dcm", Expect.STORED, SUCCESS, Peer.STORESCU,
        "first half of duplicate pair 1: the reference copy of this SOP Instance UID"),
    Row("malformed/nm_jpeg_extended_invalid_sos.dcm", Expect.QUARANTINED, SUCCESS,
        Peer.STORESCU,
        "same SOP Instance UID as pair 1's first file, different bytes (JPEG SOS Se=0); the "
        "structure is sound (we never decode on ingest), so the duplicate policy applies"),
    Row("transfer_syntaxes/nm_jpeg_extended_12bit.dcm", Expect.DUPLICATE, SUCCESS,
        Peer.STORESCU, "pair 1's first file re-sent unchanged: one copy kept"),
    Row("malformed/mr_pixel_data_truncated.dcm", Expect.REFUSED, CANNOT_UNDERSTAND,
        Peer.PYNETDICOM,
        "Pixel Data declares 8192 bytes, 8130 remain; storescu refuses to read it"),
    Row("malformed/mr_pixel_data_too_long.dcm", Expect.STORED, SUCCESS, Peer.STORESCU,
        "128 bytes of Pixel Data beyond Rows x Columns is harmless; same SOP Instance UID as "
        "the refused truncated file, which left nothing behind to collide with"),
    Row("malformed/mr_pixel_data_too_long.dcm", Expect.DUPLICATE, SUCCESS, Peer.STORESCU,
        "pair 2's valid file re-sent unchanged: one copy kept"),
    Row("malformed/rtplan_file_truncated.dcm", Expect.REFUSED, CANNOT_UNDERSTAND,
        Peer.PYNETDICOM,
        "cut inside BeamSequence; pydicom would read a partial dataset silently"),
    Row("malformed/mr_encapsulated_missing_sequence_delimiter.dcm", Expect.REFUSED,
        CANNOT_UNDERSTAND, Peer.PYNETDICOM,
        "encapsulated Pixel Data without its Sequence Delimitation Item"),
    Row("malformed/no_preamble_no_meta_stray_byte.dcm", Expect.REFUSED, CANNOT_UNDERSTAND,
        Peer.PYNETDICOM,
        "a stray leading byte misaligns every element; sent as Explicit VR LE, the syntax of "
        "the CT dataset behind it"),
    Row("malformed/meta_missing_transfer_syntax.dcm", Expect.REFUSED, CANNOT_UNDERSTAND,
        Peer.PYNETDICOM,
        "the file meta lacks (0002,0010) so the sender uses the default Implicit VR LE; the "
        "dataset itself is a parser-test fragment: illegal group 0001 elements, no SOP UIDs "
        "and 2 bytes of Pixel Data without Rows/Columns"),
    Row("malformed/meta_missing_group_length.dcm", Expect.REFUSED, DOES_NOT_MATCH,
        Peer.PYNETDICOM,
        "the meta defect never reaches the wire; the dataset is a 3-element fragment without "
        "SOP Class or SOP Instance UID (Type 1)"),
    Row("malformed/meta_missing_group_length.dcm+identified", Expect.STORED, SUCCESS,
        Peer.PYNETDICOM,
        "the same fragment with its SOP/study/series UIDs appended: stored byte for byte "
        "with a complete file meta"),
    Row("malformed/private_sequence_vr_un_undefined_length.dcm", Expect.REFUSED,
        DOES_NOT_MATCH, Peer.PYNETDICOM,
        "a one-element fragment (a private UN sequence) without SOP Class or Instance UID"),
    Row("malformed/private_sequence_vr_un_undefined_length.dcm+identified", Expect.STORED,
        SUCCESS, Peer.PYNETDICOM,
        "the same private UN sequence of undefined length behind identifying attributes: "
        "valid (PS3.5 6.2.2), kept byte for byte"),
    Row("malformed/no_preamble_no_meta_explicit_le.dcm", Expect.STORED, SUCCESS,
        Peer.STORESCU,
        "a complete RT Ion Plan without preamble or meta; storescu detects the syntax, we "
        "write the file meta"),
    Row("malformed/rtdose_invalid_values_for_vr.dcm", Expect.STORED, SUCCESS, Peer.STORESCU,
        "values invalid for their VR (IS '1A', a malformed UI) are kept as received; only "
        "the DICOM JSON metadata leaves out what it cannot represent"),
    Row("malformed/nm_j2k_fragment_contains_delimiter_bytes.dcm", Expect.STORED, SUCCESS,
        Peer.STORESCU,
        "fragments are walked by their lengths, so delimiter bytes inside the codestream are "
        "harmless"),
    Row("malformed/ct_sequence_implicit_inside_explicit_un.dcm", Expect.STORED, SUCCESS,
        Peer.STORESCU, "an Implicit VR sequence inside an Explicit VR UN element is legal"),
    Row("malformed/ct_all_elements_vr_un.dcm", Expect.STORED, SUCCESS, Peer.PYNETDICOM,
        "every element VR UN is legal; storescu cannot see UN-encoded UIDs, pydicom infers "
        "the VRs"),
    Row("malformed/ct_j2k_signedness_mismatch.dcm", Expect.STORED, SUCCESS, Peer.STORESCU,
        "a codec-level quirk (J2K unsigned vs Pixel Representation 1): not our business at "
        "ingest"),
    Row("malformed/ct_empty_instance_uids_j2k.dcm", Expect.REFUSED, DOES_NOT_MATCH,
        Peer.PYNETDICOM,
        "empty SOP Class/Instance/Study/Series UIDs (only the file meta has the UID)"),
    Row("malformed/sc_rgb_3x3_odd_pixel_count.dcm", Expect.STORED, SUCCESS, Peer.STORESCU,
        "27 bytes of RGB padded to 28: an odd natural length, padded as the standard asks"),
    Row("series/ct_head_ge_tilt/01.dcm+meta_without_transfer_syntax", Expect.STORED, SUCCESS,
        Peer.STORESCU,
        "a complete dataset whose file meta has no Transfer Syntax UID: stored with the "
        "context's syntax in a complete meta"),
    Row("series/ct_head_ge_tilt/02.dcm+meta_without_group_length", Expect.STORED, SUCCESS,
        Peer.STORESCU,
        "a complete dataset whose file meta has no group length: stored with a correct one"),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LienthongServer]:
    data_dir = tmp_path_factory.mktemp("malformed") / "data"
    lienthong(data_dir, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104")
    srv = LienthongServer(data_dir).start()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("derived")


def test_every_malformed_file_has_a_row(shared_dicom: Path) -> None:
    listed = {r.case.split("+")[0] for r in ROWS if r.case.startswith("malformed/")}
    present = {f"malformed/{p.name}" for p in (shared_dicom / "malformed").glob("*.dcm")}
    assert listed == present


# --- building what is sent ---------------------------------------------------------------


def encode(ds: Dataset, transfer_syntax: str) -> bytes:
    fp = DicomBytesIO()
    uid = UID(transfer_syntax)
    fp.is_implicit_VR = uid.is_implicit_VR
    fp.is_little_endian = uid.is_little_endian
    write_dataset(fp, ds)
    return bytes(fp.getvalue())


def raw_dataset(path: Path) -> tuple[FileMetaDataset | None, bytes]:
    """The file meta (None without preamble) and the dataset bytes exactly as in the file."""
    data = path.read_bytes()
    if data[128:132] != b"DICM":
        return None, data
    fp = io.BytesIO(data)
    read_preamble(fp, force=False)
    meta = _read_file_meta_info(fp)
    return meta, data[fp.tell():]


def identity(sop_class: str, sop_instance: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.PatientName = "Fragment^Test"
    ds.PatientID = "FRAG"
    ds.StudyInstanceUID = generate_uid(UID_ROOT)
    ds.SeriesInstanceUID = generate_uid(UID_ROOT)
    return ds


def with_meta(ds_path: Path, out: Path, *, group_length: bool, transfer_syntax: bool) -> Path:
    """Re-wrap a good file's dataset bytes in a file meta lacking the named element."""
    meta, encoded = raw_dataset(ds_path)
    assert meta is not None
    new = FileMetaDataset()
    new.FileMetaInformationVersion = b"\x00\x01"
    new.MediaStorageSOPClassUID = meta.MediaStorageSOPClassUID
    new.MediaStorageSOPInstanceUID = meta.MediaStorageSOPInstanceUID
    if transfer_syntax:
        new.TransferSyntaxUID = meta.TransferSyntaxUID
    new.ImplementationClassUID = meta.ImplementationClassUID
    body = io.BytesIO()
    write_file_meta_info(body, new, enforce_standard=False)  # type: ignore[arg-type]
    meta_bytes = body.getvalue()
    if group_length:
        length = len(meta_bytes).to_bytes(4, "little")
        meta_bytes = b"\x02\x00\x00\x00UL\x04\x00" + length + meta_bytes
    out.write_bytes(b"\x00" * 128 + b"DICM" + meta_bytes + encoded)
    return out


@dataclass(frozen=True)
class Sent:
    status: int
    transfer_syntax: str
    sop_instance_uid: str
    digest: str | None  # sha256 of the dataset bytes put on the wire, when we know them


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send(row: Row, server: LienthongServer, shared: Path, work: Path) -> Sent:
    name, _, variant = row.case.partition("+")
    path = shared / name
    port = server.dicom_port
    if variant == "identified":
        meta, encoded = raw_dataset(path)
        assert meta is not None
        ts = EXPLICIT_LE if name.endswith("vr_un_undefined_length.dcm") else IMPLICIT_LE
        sop_class = str(meta.MediaStorageSOPClassUID)
        sop_instance = str(generate_uid(UID_ROOT))
        identifying = encode(identity(sop_class, sop_instance), ts)
        # The fragment's own tags sort after (private group 4453) or before (group 0008 up to
        # 0008,0013) the identifying ones: prepend or append keeps the element order.
        first_tag = int.from_bytes(encoded[0:2], "little")
        wire = identifying + encoded if first_tag > 0x0020 else encoded + identifying
        status = send_encoded(port, wire, sop_class=sop_class, sop_instance=sop_instance,
                              transfer_syntax=ts)
        return Sent(status, ts, sop_instance, sha(wire))
    if variant.startswith("meta_without"):
        out = with_meta(path, work / f"{path.stem}-{variant}.dcm",
                        group_length=variant != "meta_without_group_length",
                        transfer_syntax=variant != "meta_without_transfer_syntax")
        path = out
    meta, encoded = raw_dataset(path)
    if row.peer is Peer.STORESCU:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        ts = str(ds.file_meta.get("TransferSyntaxUID") or EXPLICIT_LE)
        # -R: propose only the SOP classes of the files sent (e.g. RT Ion Plan).
        result = storescu(port, [path], transfer_syntax=ts if ts in STORESCU_PROPOSE else None,
                          extra=["-R"])
        responses = store_responses(result.stderr)
        assert len(responses) == 1, result.stderr
        status = SUCCESS if responses[0][1] == "Success" else -1
        # storescu re-encodes what it read (it may pad or drop group lengths): no sent digest.
        return Sent(status, ts, str(ds.SOPInstanceUID), None)
    if meta is None:  # no file meta at all: raw bytes, in the syntax the row names
        sop_instance = str(generate_uid(UID_ROOT))
        status = send_encoded(port, encoded, sop_class=CT_IMAGE, sop_instance=sop_instance,
                              transfer_syntax=EXPLICIT_LE)
        return Sent(status, EXPLICIT_LE, sop_instance, sha(encoded))
    sop_class = str(meta.get("MediaStorageSOPClassUID") or "") or SECONDARY_CAPTURE
    sop_instance = str(meta.get("MediaStorageSOPInstanceUID") or "") or generate_uid(UID_ROOT)
    ts = str(meta.get("TransferSyntaxUID") or IMPLICIT_LE)
    status = send_encoded(port, encoded, sop_class=sop_class, sop_instance=sop_instance,
                          transfer_syntax=ts)
    return Sent(status, ts, sop_instance, sha(encoded))


# --- checking what is kept ----------------------------------------------------------------


def check_part10(path: Path, *, transfer_syntax: str, sop_instance_uid: str) -> pydicom.Dataset:
    """The stored file is a complete Part 10 file with a correct, complete file meta."""
    data = path.read_bytes()
    assert data[128:132] == b"DICM"
    fp = io.BytesIO(data)
    read_preamble(fp, force=False)
    meta = _read_file_meta_info(fp)
    meta_end = fp.tell()
    assert meta.FileMetaInformationGroupLength == meta_end - 132 - 12
    assert meta.TransferSyntaxUID == transfer_syntax
    assert meta.MediaStorageSOPInstanceUID == sop_instance_uid
    ds = pydicom.dcmread(path)
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.SOPInstanceUID == sop_instance_uid
    for element in ds.iterall():
        _ = element.value
    return ds


def assert_nothing_new(before: Snapshot, after: Snapshot) -> None:
    assert after.objects == before.objects
    assert after.instances == before.instances
    assert after.quarantined == before.quarantined
    assert after.temporary == []


@pytest.mark.parametrize("row", ROWS, ids=[r.case for r in ROWS])
def test_malformed_row(row: Row, server: LienthongServer, shared_dicom: Path, work: Path) -> None:
    data_dir = server.data_dir
    before = snapshot(data_dir)
    logged = server.read_log().count(f"refused with 0x{row.status:04X}")
    quarantine_logged = server.read_log().count("quarantined a re-sent instance")
    sent = send(row, server, shared_dicom, work)
    after = snapshot(data_dir)

    assert sent.status == row.status, f"{row.case}: 0x{sent.status:04X}, {row.reason}"
    assert echoscu(server.dicom_port), "C-ECHO failed after " + row.case
    assert after.temporary == []
    uid = sent.sop_instance_uid

    if row.expect is Expect.REFUSED:
        assert_nothing_new(before, after)
        # ...and one log line naming the status and the reason.
        assert server.read_log().count(f"refused with 0x{row.status:04X}") == logged + 1
    elif row.expect is Expect.DUPLICATE:
        assert uid in before.instances
        assert_nothing_new(before, after)
    elif row.expect is Expect.QUARANTINED:
        kept = before.instances[uid]
        assert after.instances == before.instances  # the first copy stays what it was
        new = [q for q in after.quarantined if q not in before.quarantined]
        assert len(new) == 1 and new[0][0] == uid
        assert new[0][2] != kept.sha256
        assert after.objects == before.objects | {new[0][1]}
        quarantined = object_path(data_dir, new[0][1])
        check_part10(quarantined, transfer_syntax=sent.transfer_syntax, sop_instance_uid=uid)
        assert dataset_digest(quarantined) == new[0][2]
        assert server.read_log().count("quarantined a re-sent instance") == quarantine_logged + 1
    else:
        assert uid not in before.instances
        row_after = after.instances[uid]
        assert after.objects == before.objects | {row_after.file_key}
        assert len(after.instances) == len(before.instances) + 1
        stored = object_path(data_dir, row_after.file_key)
        check_part10(stored, transfer_syntax=sent.transfer_syntax, sop_instance_uid=uid)
        assert dataset_digest(stored) == row_after.sha256
        if sent.digest is not None:  # pynetdicom sent the bytes unchanged: kept byte for byte
            assert row_after.sha256 == sent.digest


# --- datasets that contradict their request (made with pydicom from a shared file) ---------

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def _refused_without_trace(server: LienthongServer, wire: bytes, *, sop_class: str,
                           sop_instance: str, transfer_syntax: str) -> int:
    before = snapshot(server.data_dir)
    status = send_encoded(server.dicom_port, wire, sop_class=sop_class,
                          sop_instance=sop_instance, transfer_syntax=transfer_syntax)
    assert_nothing_new(before, snapshot(server.data_dir))
    assert echoscu(server.dicom_port)
    return status


def test_sop_class_differing_from_the_context_is_refused(
    server: LienthongServer, shared_dicom: Path
) -> None:
    ds = pydicom.dcmread(shared_dicom / "series/ct_head_ge_tilt/03.dcm")
    ts = str(ds.file_meta.TransferSyntaxUID)
    ds.SOPClassUID = MR_IMAGE  # the dataset claims MR, the context says CT
    status = _refused_without_trace(server, encode(ds, ts), sop_class=CT_IMAGE,
                                    sop_instance=ds.SOPInstanceUID, transfer_syntax=ts)
    assert status == DOES_NOT_MATCH


def test_empty_sop_instance_uid_is_refused(server: LienthongServer, shared_dicom: Path) -> None:
    ds = pydicom.dcmread(shared_dicom / "series/ct_head_ge_tilt/04.dcm")
    ts = str(ds.file_meta.TransferSyntaxUID)
    requested = ds.SOPInstanceUID
    ds.SOPInstanceUID = ""
    status = _refused_without_trace(server, encode(ds, ts), sop_class=CT_IMAGE,
                                    sop_instance=requested, transfer_syntax=ts)
    assert status == DOES_NOT_MATCH


def test_missing_sop_instance_uid_is_refused(server: LienthongServer, shared_dicom: Path) -> None:
    ds = pydicom.dcmread(shared_dicom / "series/ct_head_ge_tilt/05.dcm")
    ts = str(ds.file_meta.TransferSyntaxUID)
    requested = ds.SOPInstanceUID
    del ds.SOPInstanceUID
    status = _refused_without_trace(server, encode(ds, ts), sop_class=CT_IMAGE,
                                    sop_instance=requested, transfer_syntax=ts)
    assert status == DOES_NOT_MATCH


def test_sop_instance_uid_differing_from_the_request_is_refused(
    server: LienthongServer, shared_dicom: Path
) -> None:
    ds = pydicom.dcmread(shared_dicom / "series/ct_head_ge_tilt/06.dcm")
    ts = str(ds.file_meta.TransferSyntaxUID)
    status = _refused_without_trace(server, encode(ds, ts), sop_class=CT_IMAGE,
                                    sop_instance=generate_uid(UID_ROOT), transfer_syntax=ts)
    assert status == DOES_NOT_MATCH


def nested_content(levels: int) -> bytes:
    """(0040,A730) Content Sequence nested `levels` deep, undefined lengths, Explicit VR LE."""
    content = b"\x40\x00\x60\xa1UT\x00\x00" + (4).to_bytes(4, "little") + b"deep"
    for _ in range(levels):
        item = (b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + content
                + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00")
        content = (b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff" + item
                   + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    return content


def test_hostile_nesting_is_refused_and_the_server_stays_up(server: LienthongServer) -> None:
    # 300 levels made pydicom 3.0.2 raise RecursionError; the SCP must answer, not crash.
    sop_instance = generate_uid(UID_ROOT)
    basic_text_sr = "1.2.840.10008.5.1.4.1.1.88.11"
    wire = encode(identity(basic_text_sr, sop_instance), EXPLICIT_LE) + nested_content(300)
    status = _refused_without_trace(server, wire, sop_class=basic_text_sr,
                                    sop_instance=sop_instance, transfer_syntax=EXPLICIT_LE)
    assert status == CANNOT_UNDERSTAND
    # A modest depth (a real SR content tree) is fine.
    sop_instance = generate_uid(UID_ROOT)
    wire = encode(identity(basic_text_sr, sop_instance), EXPLICIT_LE) + nested_content(8)
    assert send_encoded(server.dicom_port, wire, sop_class=basic_text_sr,
                        sop_instance=sop_instance, transfer_syntax=EXPLICIT_LE) == SUCCESS
    assert sop_instance in snapshot(server.data_dir).instances


def test_pixel_dimensions_larger_than_the_pixel_data_are_refused(
    server: LienthongServer, shared_dicom: Path
) -> None:
    # Rows x Columns x Frames x Bits far beyond the Pixel Data sent (and beyond 32 bits):
    # a viewer decoding this would over-read; the archive refuses it at the door.
    ds = pydicom.dcmread(shared_dicom / "series/ct_head_ge_tilt/07.dcm")
    ts = str(ds.file_meta.TransferSyntaxUID)
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 2**31 - 1
    status = _refused_without_trace(server, encode(ds, ts), sop_class=CT_IMAGE,
                                    sop_instance=ds.SOPInstanceUID, transfer_syntax=ts)
    assert status == CANNOT_UNDERSTAND
