"""Ingest benchmark: DCMTK storescu → lienthong vs DCMTK storescp vs Orthanc, same run.

Generates N CT slices (512x512, 16-bit, Explicit VR LE), then for each server and for 1 and 4
parallel associations sends all of them with storescu and reports instances/s, MB/s, the CPU
time per instance of each server and of the senders, and the ratios. Every server listens on
127.0.0.1 only and is stopped (by its PID) at the end.

    .venv/bin/python -m bench.ingest.run [--count 2000] [--associations 1 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

REPO = Path(__file__).resolve().parents[2]
AET = "BENCHSCU"
# Debian's DCMTK (in storescu, storescp and Orthanc) leaves Nagle's algorithm on unless this is
# set; with it on, every DIMSE round trip waits for delayed ACKs (about 40 ms on loopback).
os.environ["TCP_NODELAY"] = "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generate(folder: Path, count: int) -> list[Path]:
    """CT slices with a phantom and noise, so they are not trivially identical."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.dcm"))
    if len(existing) == count:
        return existing
    for old in existing:
        old.unlink()
    rng = np.random.default_rng(7)
    y, x = np.mgrid[-1:1:512j, -1:1:512j]
    body = ((x / 0.8) ** 2 + (y / 0.6) ** 2 <= 1)
    study, series = generate_uid(), generate_uid()
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName, ds.PatientID = "Bench^Patient", "BENCH1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, i + 1
        ds.StudyDate, ds.StudyTime = "20261201", "120000"
        ds.ImagePositionPatient = [0, 0, i * 0.625]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 0.625
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        pixels = np.where(body, 1064, 0) + rng.integers(0, 40, (512, 512))
        ds.PixelData = pixels.astype(np.int16).tobytes()
        path = folder / f"ct{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@dataclass
class Server:
    name: str
    aet: str
    port: int
    process: subprocess.Popen[bytes]
    storage: Path


_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    user: float
    system: float

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.user + other.user, self.system + other.system)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.user - other.user, self.system - other.system)

    @property
    def total(self) -> float:
        return self.user + self.system


def tree_cpu_seconds(pid: int) -> Cpu:
    """CPU seconds (user, system) of process ``pid``, of its children it has waited for, and
    of its live descendants: what a server spent, whatever its process model (storescp forks
    per association, Orthanc runs threads, lienthong worker processes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        # utime, stime, cutime, cstime are fields 14-17 of proc(5); the list starts at field 3.
        utime, stime, cutime, cstime = (int(v) / _TICK for v in fields[11:15])
        own = Cpu(utime + cutime, stime + cstime)
        children: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError):
        return Cpu(0.0, 0.0)
    return sum((tree_cpu_seconds(child) for child in children), own)


def senders_cpu_seconds() -> float:
    """CPU seconds of this process's children that ended (the storescu runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def release_warm_memory(size: int) -> None:
    """Touch ``size`` bytes in a child process that then exits, leaving that much free memory
    the hypervisor still backs.

    On a VM with free page reporting (virtio-balloon; the kernel logs "Free page reporting
    enabled") memory that stayed free for a few seconds is handed back to the host, and the
    guest's first write to such a page costs a host fault. Which server got recently freed pages
    for its ~1 GB of new page cache then depended on how long it took to start after the bench
    deleted its previous files: the same server's system time varied 1.2-3.7 ms per instance
    from run to run, most of it in copying file data into the page cache. Done right before each
    measured transfer, this gives every server the same start.
    """
    # Never more than half of what the kernel says is available: a warm-up must not push a
    # smaller machine into reclaim or the OOM killer.
    size = min(size, _available_memory() // 2)
    # np.ones writes every byte, so every page is faulted in before the child exits.
    subprocess.run([sys.executable, "-c", f"import numpy; numpy.ones({size}, dtype=numpy.uint8)"],
                   check=True)


def _available_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_echo(port: int, aet: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = subprocess.run(["echoscu", "-aet", AET, "-aec", aet, "127.0.0.1", str(port)],
                            capture_output=True, check=False).returncode == 0
        if ok:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no C-ECHO answer on port {port}")


@contextlib.contextmanager
def storescp(work: Path) -> Iterator[Server]:
    out = work / "storescp"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    port = free_port()
    # --fork: one process per association, as storescp is used for parallel senders.
    proc = subprocess.Popen(["storescp", "--fork", "-aet", "STORESCP", "-od", str(out), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_echo(port, "STORESCP")
        yield Server("DCMTK storescp (no fsync)", "STORESCP", port, proc, out)
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def orthanc(work: Path) -> Iterator[Server]:
    root = work / "orthanc"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    port, http = free_port(), free_port()
    config = {
        "Name": "bench", "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "index"), "DicomAet": "ORTHANC", "DicomPort": port,
        "HttpPort": http, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomAlwaysAllowStore": True, "DicomCheckCalledAet": False, "Plugins": [],
        "StorageCompression": False, "SyncStorageArea": True, "ConcurrentJobs": 2,
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen(["Orthanc", str(root / "orthanc.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_echo(port, "ORTHANC")
        yield Server("Orthanc (SyncStorageArea)", "ORTHANC", port, proc, root / "storage")
    finally:
        proc.terminate()
        proc.wait(30)


@contextlib.contextmanager
def lienthong(work: Path) -> Iterator[Server]:
    data = work / "lienthong"
    shutil.rmtree(data, ignore_errors=True)
    port, http = free_port(), free_port()
    env = {**os.environ, "LIENTHONG_STORAGE__MIN_FREE_BYTES": "0", "LIENTHONG_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data)]
    subprocess.run([*cli, "ae", "add", AET, "--host", "127.0.0.1", "--port", "104"],
                   check=True, capture_output=True, env=env, cwd=REPO)
    log = (work / "lienthong.log").open("wb")
    proc = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--dicom-port", str(port),
                             "--http-port", str(http)], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=1)
                break
            time.sleep(0.2)
        wait_echo(port, "LIENTHONG")
        yield Server("Lienthong (fsync + index commit)", "LIENTHONG", port, proc, data)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()


@dataclass
class Run:
    seconds: float  # wall time of the whole transfer
    server_cpu: Cpu  # CPU seconds the server's processes used meanwhile
    senders_cpu: float  # CPU seconds of the storescu runs


def send(server: Server, files: list[Path], associations: int) -> Run:
    """Send every file over `associations` parallel storescu runs."""
    chunks = [files[i::associations] for i in range(associations)]
    with tempfile.TemporaryDirectory() as tmp:
        lists = []
        for n, chunk in enumerate(chunks):
            # storescu reads file names from arguments; many names → one call per chunk.
            lists.append([str(p) for p in chunk])
            Path(tmp, f"{n}.txt").write_text("\n".join(lists[-1]))
        server_cpu, senders_cpu = tree_cpu_seconds(server.process.pid), senders_cpu_seconds()
        start = time.perf_counter()
        procs = [subprocess.Popen(["storescu", "-aet", AET, "-aec", server.aet, "-xe", "127.0.0.1",
                                   str(server.port), *names],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for names in lists]
        errors = [p.communicate()[1] for p in procs]
        elapsed = time.perf_counter() - start
        run = Run(elapsed, tree_cpu_seconds(server.process.pid) - server_cpu,
                  senders_cpu_seconds() - senders_cpu)
    for proc, err in zip(procs, errors, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"{server.name}: storescu failed: {err.decode()[-500:]}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "results" / "ingest")
    parser.add_argument("--associations", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every server this many times, in turn; the table shows the "
                             "median run and the range (these machines are noisy)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = generate(args.workdir / "input", args.count)
    input_bytes = sum(p.stat().st_size for p in files)
    megabytes = input_bytes / 1e6
    print(f"{len(files)} CT instances, {megabytes:.0f} MB; {os.cpu_count()} CPUs")
    results: dict[tuple[str, int], list[Run]] = {}
    for round_no in range(1, args.rounds + 1):
        for assoc in args.associations:
            for factory in (storescp, orthanc, lienthong):
                with factory(args.workdir) as server:
                    send(server, files[:20], 1)  # warm-up (these are re-sent as duplicates)
                    # Write back what earlier runs left in the page cache (storescp does not
                    # fsync): otherwise the next server's flushes pay for it.
                    os.sync()
                    release_warm_memory(2 * input_bytes)
                    run = send(server, files, assoc)
                    results.setdefault((server.name, assoc), []).append(run)
                    print(f"  round {round_no}  {server.name:36s} {assoc} assoc: "
                          f"{len(files) / run.seconds:7.1f} inst/s "
                          f"{megabytes / run.seconds:6.1f} MB/s, server CPU "
                          f"{1000 * run.server_cpu.total / len(files):.2f} ms/instance "
                          f"(user {1000 * run.server_cpu.user / len(files):.2f}, system "
                          f"{1000 * run.server_cpu.system / len(files):.2f})", flush=True)
    # CPU per instance tells what the wall time hides on a loaded machine: with every core
    # busy, a server's throughput is bounded by its CPU per instance plus the senders'.
    print(f"\n| server | associations | instances/s (median of {args.rounds}) | range | MB/s "
          "| server CPU ms/instance (of which user) | storescu CPU ms/instance "
          "| lienthong ÷ server |")
    print("|---|---|---|---|---|---|---|---|")
    for assoc in args.associations:
        ours = next(statistics.median(r.seconds for r in v) for (name, a), v in results.items()
                    if a == assoc and "Lienthong" in name)
        for (name, a), runs in results.items():
            if a != assoc:
                continue
            seconds = statistics.median(r.seconds for r in runs)
            walls = [r.seconds for r in runs]
            span = f"{len(files) / max(walls):.0f}–{len(files) / min(walls):.0f}"
            server_ms = 1000 * statistics.median(r.server_cpu.total for r in runs) / len(files)
            user_ms = 1000 * statistics.median(r.server_cpu.user for r in runs) / len(files)
            senders_ms = 1000 * statistics.median(r.senders_cpu for r in runs) / len(files)
            print(f"| {name} | {a} | {len(files) / seconds:.1f} | {span} | "
                  f"{megabytes / seconds:.1f} | {server_ms:.2f} ({user_ms:.2f}) | "
                  f"{senders_ms:.2f} | "
                  f"{seconds / ours:.2f}x |")


if __name__ == "__main__":
    main()
