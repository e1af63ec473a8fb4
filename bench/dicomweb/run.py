"""DICOMweb benchmark: Lienthong vs Orthanc + its DICOMweb plugin, same data, same run.

Generates about 1,000 small studies (one 64x64 MR slice each, varied patients and dates) and one
300-slice CT series (512x512, 16-bit), loads them into a fresh `lienthong serve` (storescu) and
a fresh Orthanc (its REST API, POST /instances), then, with both running, times each request on
each server over one keep-alive HTTP connection per server, taking turns request by request so
that both see the same load from the rest of the (shared) machine, with warm-up requests first:

- QIDO-RS study search (PatientID=BN01*: 100 of the studies);
- WADO-RS series metadata of the 300-slice CT;
- one frame (uncompressed, application/octet-stream);
- /rendered of one CT image (JPEG).

Both servers listen on 127.0.0.1 only and are stopped by their PID at the end.

    .venv/bin/python -m bench.dicomweb.run [--studies 1000] [--slices 300] [--repeat 40]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from bench.ingest.run import AET, Server, free_port, send, wait_echo

REPO = Path(__file__).resolve().parents[2]
# A literal "*": Orthanc does not decode "%2A" (what requests sends for "*") to a wildcard.
QUERY = "PatientID=BN01*&limit=1000"
PASSWORD = secrets.token_urlsafe(24)  # a throwaway user of a throwaway server
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Lương", "Vũ", "Đặng", "Bùi", "Đỗ")
GIVEN = ("Văn An", "Thị Đào", "Quốc Bảo", "Minh Châu", "Thu Hà", "Đức Long", "Ngọc Lan")


def _image(ds: Dataset, pixels: np.ndarray) -> None:
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = pixels.astype(np.int16).tobytes()


def _base(sop_class: str, patient: int, study: str, series: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = f"{FAMILY[patient % 10]}^{GIVEN[patient % 7]}"
    ds.PatientID = f"BN{patient:04d}"
    ds.PatientBirthDate = f"19{40 + patient % 60:02d}0101"
    ds.PatientSex = "MF"[patient % 2]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyDate = f"2026{1 + patient % 12:02d}{1 + patient % 28:02d}"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"ACC{patient:06d}"
    ds.StudyID, ds.SeriesNumber = "1", 1
    ds.ReferringPhysicianName = "Trần^Văn Bình"
    return ds


def generate(folder: Path, studies: int, slices: int) -> tuple[list[Path], Dataset]:
    """The files, and the header of the CT's middle slice (for the per-instance requests)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("mr*.dcm")) + sorted(folder.glob("ct*.dcm"))
    if len(existing) == studies + slices:  # the same inputs as a previous run
        return existing, dcmread(folder / f"ct{slices // 2:05d}.dcm", stop_before_pixels=True)
    for old in existing:
        old.unlink()
    rng = np.random.default_rng(11)
    paths: list[Path] = []
    for p in range(studies):
        ds = _base(MRImageStorage, p, generate_uid(), generate_uid())
        ds.Modality, ds.InstanceNumber = "MR", 1
        _image(ds, rng.integers(0, 800, (64, 64)))
        paths.append(folder / f"mr{p:05d}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    study, series = generate_uid(), generate_uid()
    y, x = np.mgrid[-1:1:512j, -1:1:512j]
    body = (x / 0.8) ** 2 + (y / 0.6) ** 2 <= 1
    middle = Dataset()
    for i in range(slices):
        ds = _base(CTImageStorage, studies, study, series)
        ds.Modality, ds.InstanceNumber = "CT", i + 1
        ds.ImagePositionPatient = [0, 0, i * 0.625]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 0.625
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        _image(ds, np.where(body, 1064, 0) + rng.integers(0, 40, (512, 512)))
        paths.append(folder / f"ct{i:05d}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
        if i == slices // 2:
            middle = ds
    return paths, middle


@dataclass
class Target:
    name: str
    root: str  # DICOMweb base URL
    session: requests.Session


@contextlib.contextmanager
def lienthong(work: Path, files: list[Path]) -> Iterator[Target]:
    data = work / "lienthong"
    shutil.rmtree(data, ignore_errors=True)
    port, http = free_port(), free_port()
    env = {
        **os.environ,
        "LIENTHONG_STORAGE__MIN_FREE_BYTES": "0",
        "LIENTHONG_LOG_LEVEL": "WARNING",
        "LIENTHONG_DICOM__WORKERS": "1",
    }
    cli = [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data)]
    subprocess.run([*cli, "db", "upgrade"], check=True, capture_output=True, env=env, cwd=REPO)
    subprocess.run([*cli, "ae", "add", AET, "--host", "127.0.0.1", "--port", "104"],
                   check=True, capture_output=True, env=env, cwd=REPO)
    subprocess.run([*cli, "users", "add", "bench", "--role", "radiologist"], input=PASSWORD,
                   text=True, check=True, capture_output=True, env=env, cwd=REPO)
    log = (work / "lienthong.log").open("wb")
    proc = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--dicom-port", str(port), "--http-port", str(http)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=1)
                break
            time.sleep(0.2)
        wait_echo(port, "LIENTHONG")
        started = time.perf_counter()
        send(Server("Lienthong", "LIENTHONG", port, proc, data), files, 2)
        print(f"  Lienthong: {len(files)} files stored in {time.perf_counter() - started:.1f} s")
        session = requests.Session()
        token = session.post(f"http://127.0.0.1:{http}/api/auth/token",
                             data={"username": "bench", "password": PASSWORD}, timeout=30)
        token.raise_for_status()
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield Target("Lienthong", f"http://127.0.0.1:{http}/dicomweb", session)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()


@contextlib.contextmanager
def orthanc(work: Path, files: list[Path]) -> Iterator[Target]:
    root = work / "orthanc"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    http = free_port()
    config = {
        "Name": "bench", "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "index"), "DicomServerEnabled": False,
        "HttpPort": http, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        "StorageCompression": False,
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    log = (work / "orthanc.log").open("wb")
    proc = subprocess.Popen(["Orthanc", str(root / "orthanc.json")], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        session = requests.Session()
        base = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if session.get(f"{base}/system", timeout=1).ok:
                    break
            time.sleep(0.2)
        started = time.perf_counter()
        for path in files:
            session.post(f"{base}/instances", data=path.read_bytes(), timeout=60).raise_for_status()
        print(f"  Orthanc: {len(files)} files stored in {time.perf_counter() - started:.1f} s")
        yield Target("Orthanc + DICOMweb plugin", f"{base}/dicom-web", session)
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


def timed_pair(calls: list[Callable[[], requests.Response]], repeat: int,
               warmup: int = 3) -> list[list[float]]:
    """Times each call `repeat` times, taking turns (A, B, A, B, ...), so that every server sees
    the same load from the rest of the machine (it is shared); ms per complete response."""
    for call in calls:
        for _ in range(warmup):
            call().raise_for_status()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, samples in zip(calls, times, strict=True):
            start = time.perf_counter()
            response = call()
            response.raise_for_status()
            _ = response.content
            samples.append((time.perf_counter() - start) * 1000)
    return times


Request = Callable[[], requests.Response]


def requests_for(target: Target, ct: Dataset) -> dict[str, tuple[Request, int]]:
    """The benchmark's requests against one server (name → call, repeat divisor)."""
    s, root = target.session, target.root
    study, series, sop = ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID
    instance = f"{root}/studies/{study}/series/{series}/instances/{sop}"
    octet = {"Accept": 'multipart/related; type="application/octet-stream"'}
    search = s.get(f"{root}/studies?{QUERY}", timeout=60)
    search.raise_for_status()
    metadata = s.get(f"{root}/studies/{study}/series/{series}/metadata", timeout=120)
    vietnamese = s.get(f"{root}/studies?PatientName=L%C6%B0%C6%A1ng*&limit=1000", timeout=60)
    print(f"  {target.name}: QIDO found {len(search.json())} studies; series metadata has "
          f"{len(metadata.json())} instances; PatientName=Lương* found "
          f"{len(vietnamese.json())} studies")
    return {
        "QIDO-RS study search (100 of ~1000 studies)": (
            lambda: s.get(f"{root}/studies?{QUERY}", timeout=60), 1),
        "series metadata, 300-slice CT": (
            lambda: s.get(f"{root}/studies/{study}/series/{series}/metadata", timeout=120), 2),
        "one frame (uncompressed)": (
            lambda: s.get(f"{instance}/frames/1", headers=octet, timeout=60), 1),
        "/rendered, one CT image (JPEG)": (
            lambda: s.get(f"{instance}/rendered", headers={"Accept": "image/jpeg"},
                          timeout=60), 1),
    }


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "results" / "dicomweb")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    files, ct = generate(args.workdir / "input", args.studies, args.slices)
    print(f"{args.studies} studies + one {args.slices}-slice CT ({len(files)} files); "
          f"{os.cpu_count()} CPUs")
    with lienthong(args.workdir, files) as ours, orthanc(args.workdir, files) as theirs:
        mine, peer = requests_for(ours, ct), requests_for(theirs, ct)
        rows = {name: timed_pair([mine[name][0], peer[name][0]],
                                 max(args.repeat // mine[name][1], 5)) for name in mine}
    print(f"\nboth servers up, requests taking turns; load average {os.getloadavg()[0]:.1f}")
    print("\n| request | Lienthong p50 / p95 (ms) | Orthanc p50 / p95 (ms) | Orthanc ÷ Lienthong |")
    print("|---|---|---|---|")
    for name, (a, b) in rows.items():
        print(f"| {name} | {p(a, 50):.1f} / {p(a, 95):.1f} | {p(b, 50):.1f} / {p(b, 95):.1f} | "
              f"{p(b, 50) / p(a, 50):.2f}x |")


if __name__ == "__main__":
    main()
