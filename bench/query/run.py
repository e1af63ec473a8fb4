"""Query benchmark: study-level C-FIND latency, Lienthong (SQLite, PostgreSQL) vs Orthanc.

1. Bulk-loads N studies (default 100,000 studies / 1,000,000 instances, rows only) into SQLite and
   into a throwaway PostgreSQL cluster, runs `lienthong serve` on each and times C-FIND (Study
   Root, STUDY level) for four query shapes: PatientID, PatientName wildcard, StudyDate range
   (one day, as a reading workstation asks, and three days), AccessionNumber. p50/p95 over Q
   queries each, from a pynetdicom SCU on one association.
2. Uploads K studies (default 4,000, one small instance each) to Orthanc through its REST API
   and times the same shapes against Orthanc and against Lienthong holding the same K studies.

Every server listens on 127.0.0.1 only and is stopped by its PID. Run on demand:

    .venv/bin/python -m bench.query.run [--studies 100000] [--orthanc-studies 4000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore
from sqlalchemy import text

from bench.query.data import StudySpec, dataset, load_rows, studies
from lienthong.db import make_engine, make_sessionmaker, writer_engine
from lienthong.migrate import upgrade
from pacs.peers import add_peer
from pacs.scp.server import quiet_pynetdicom

REPO = Path(__file__).resolve().parents[2]
AET = "BENCHSCU"
# Orthanc is built on DCMTK, which leaves Nagle's algorithm on unless this is set.
os.environ["TCP_NODELAY"] = "1"
# The SCU here is the same for every server: without its debug formatting of every response
# (dropped by the log level anyway), the figures are the servers' more than the client's.
quiet_pynetdicom()
Shape = Callable[[StudySpec], dict[str, str]]

def _plus(date: str, days: int) -> str:
    return (dt.datetime.strptime(date, "%Y%m%d") + dt.timedelta(days=days)).strftime("%Y%m%d")


SHAPES: dict[str, Shape] = {
    "PatientID": lambda s: {"PatientID": s.patient_id},
    "PatientName wildcard": lambda s: {
        "PatientName": s.patient_name.rsplit(" ", 1)[0] + " " + s.patient_name.rsplit(" ", 1)[1][:2]
        + "*"
    },
    # A reading workstation asks for one day's studies; the 3-day range shows how the time grows
    # with the number of matches (about 42 studies a day at 100,000 studies over 2,400 days).
    "StudyDate range (1 day)": lambda s: {"StudyDate": f"{s.study_date}-{s.study_date}"},
    "StudyDate range (3 days)": lambda s: {"StudyDate": f"{s.study_date}-{_plus(s.study_date, 2)}"},
    "AccessionNumber": lambda s: {"AccessionNumber": s.accession},
}
RETURN_KEYS = ("PatientName", "PatientID", "StudyDate", "AccessionNumber", "ModalitiesInStudy",
               "NumberOfStudyRelatedInstances", "StudyInstanceUID")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def identifier(filters: dict[str, str]) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = "STUDY"
    for key in RETURN_KEYS:
        setattr(ds, key, "")
    for key, value in filters.items():
        setattr(ds, key, value)
    return ds


def _associate(port: int, called: str) -> Association:
    ae = AE(AET)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        raise RuntimeError(f"association with {called} refused")
    sock = assoc.dul.socket.socket if assoc.dul.socket else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return assoc


def _one_find(assoc: Association, query: Dataset) -> int:
    """Matches of one C-FIND; raises RuntimeError on a failure status or a lost association."""
    count = 0
    for status, _ in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        code = int(status.Status) if "Status" in status else -1
        if code in (0xFF00, 0xFF01):
            count += 1
        elif code != 0x0000:
            raise RuntimeError(f"C-FIND status {code:#06x}")
    return count


def measure(targets: list[tuple[int, str]], specs: list[StudySpec], queries: int,
            seed: int = 7) -> list[dict[str, tuple[float, float, float, int]]]:
    """Per target and shape: (p50 ms, p95 ms, mean matches, failed queries) of complete C-FIND
    exchanges. With several targets each query goes to each of them in turn, so that all see
    the same load from the rest of the (shared) machine."""
    rng = random.Random(seed)
    results: list[dict[str, tuple[float, float, float, int]]] = [{} for _ in targets]
    assocs = [_associate(port, called) for port, called in targets]
    try:
        for name, shape in SHAPES.items():
            samples: list[list[float]] = [[] for _ in targets]
            matches: list[list[int]] = [[] for _ in targets]
            failed = [0 for _ in targets]
            for i in range(queries + 5):
                query = identifier(shape(rng.choice(specs)))
                for t, (port, called) in enumerate(targets):
                    start = time.perf_counter()
                    try:
                        count = _one_find(assocs[t], query)
                    except RuntimeError as exc:
                        failed[t] += 1
                        print(f"{called} {name}: {exc}", file=sys.stderr)
                        if not assocs[t].is_established:
                            assocs[t] = _associate(port, called)
                        continue
                    elapsed = (time.perf_counter() - start) * 1000
                    if i >= 5:  # the first five warm caches
                        samples[t].append(elapsed)
                        matches[t].append(count)
            for t in range(len(targets)):
                ordered = sorted(samples[t])
                results[t][name] = (statistics.median(ordered),
                                    ordered[int(0.95 * (len(ordered) - 1))],
                                    statistics.mean(matches[t]), failed[t])
    finally:
        for assoc in assocs:
            if assoc.is_established:
                assoc.release()
    return results


@contextlib.contextmanager
def lienthong(work: Path, url: str) -> Iterator[int]:
    data = work / "lienthong-data"
    data.mkdir(parents=True, exist_ok=True)
    port, http = free_port(), free_port()
    env = {**os.environ, "LIENTHONG_DATABASE_URL": url, "LIENTHONG_LOG_LEVEL": "WARNING",
           "LIENTHONG_STORAGE__MIN_FREE_BYTES": "0", "LIENTHONG_DICOM__WORKERS": "1",
           "LIENTHONG_QUERY__MAX_RESULTS": "5000"}
    log = (work / "lienthong.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data), "serve", "--host",
         "127.0.0.1", "--dicom-port", str(port), "--http-port", str(http)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        wait_echo(port, "LIENTHONG")
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()


def wait_echo(port: int, called: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = subprocess.run(["echoscu", "-aet", AET, "-aec", called, "127.0.0.1", str(port)],
                            capture_output=True, check=False).returncode == 0
        if ok:
            return
        time.sleep(0.3)
    raise RuntimeError(f"no C-ECHO answer from {called} on port {port}")


def prepare_index(url: str, specs: list[StudySpec], series: int, instances: int) -> float:
    """Migrate, bulk-load rows, register the SCU, ANALYZE; returns the load time in seconds."""
    upgrade(url)
    engine = make_engine(url)
    start = time.perf_counter()
    load_rows(writer_engine(engine), specs, series, instances)
    loaded = time.perf_counter() - start
    with make_sessionmaker(writer_engine(engine)).begin() as session:
        add_peer(session, AET, "127.0.0.1", 104)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    engine.dispose()
    return loaded


@contextlib.contextmanager
def orthanc(work: Path) -> Iterator[tuple[int, int]]:
    root = work / "orthanc"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    port, http = free_port(), free_port()
    config = {
        "Name": "bench", "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "index"), "DicomAet": "ORTHANC", "DicomPort": port,
        "HttpPort": http, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False, "DicomModalities": {"bench": [AET, "127.0.0.1", 104]},
        "DicomCheckModalityHost": False, "Plugins": [], "StorageCompression": False,
        "LimitFindResults": 0, "LimitFindInstances": 0,
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    log = (work / "orthanc.log").open("ab")
    proc = subprocess.Popen(["Orthanc", str(root / "orthanc.json")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_echo(port, "ORTHANC")
        yield port, http
    finally:
        proc.terminate()
        proc.wait(60)


def upload_to_orthanc(http: int, specs: list[StudySpec]) -> float:
    def post(spec: StudySpec) -> None:
        buffer = io.BytesIO()
        dataset(spec, 1, 1).save_as(buffer, enforce_file_format=True)
        request = urllib.request.Request(
            f"http://127.0.0.1:{http}/instances", data=buffer.getvalue(), method="POST",
            headers={"Content-Type": "application/dicom"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            response.read()

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(post, specs))
    return time.perf_counter() - start


Result = dict[str, tuple[float, float, float, int]]


def table(rows: list[tuple[str, Result]]) -> str:
    lines = ["| server | query | p50 ms | p95 ms | matches (mean) | failed |",
             "|---|---|---|---|---|---|"]
    for label, result in rows:
        for shape, (p50, p95, matches, failed) in result.items():
            lines.append(
                f"| {label} | {shape} | {p50:.1f} | {p95:.1f} | {matches:.1f} | {failed} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=2, help="series per study")
    parser.add_argument("--instances", type=int, default=5, help="instances per series")
    parser.add_argument("--orthanc-studies", type=int, default=4000)
    parser.add_argument("--queries", type=int, default=200, help="queries per shape")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "results" / "query")
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows: list[tuple[str, Result]] = []
    notes: list[str] = []

    if not args.skip_orthanc:
        small = list(studies(args.orthanc_studies, seed=11))
        url = f"sqlite:///{work / 'small.sqlite3'}"
        prepare_index(url, small, 1, 1)
        with orthanc(work) as (port, http), lienthong(work / "small", url) as ours:
            seconds = upload_to_orthanc(http, small)
            notes.append(f"Orthanc: {len(small)} studies uploaded by REST in {seconds:.0f} s")
            notes.append(f"Orthanc and Lienthong {len(small)} took turns query by query; "
                         f"load average {os.getloadavg()[0]:.1f} at the end")
            peer, mine = measure([(port, "ORTHANC"), (ours, "LIENTHONG")], small, args.queries)
            rows.append((f"Orthanc 1.10 (SQLite), {len(small)} studies", peer))
            rows.append((f"Lienthong SQLite, {len(small)} studies", mine))
        print(table(rows), flush=True)

    specs = list(studies(args.studies))
    total = args.studies * args.series * args.instances
    url = f"sqlite:///{work / 'big.sqlite3'}"
    seconds = prepare_index(url, specs, args.series, args.instances)
    notes.append(f"SQLite: {args.studies} studies / {total} instances loaded in {seconds:.0f} s")
    with lienthong(work / "sqlite", url) as port:
        rows.append((f"Lienthong SQLite, {args.studies} studies / {total} instances",
                     measure([(port, "LIENTHONG")], specs, args.queries)[0]))
    print(table(rows), flush=True)

    if not args.skip_postgres:
        sys.path.insert(0, str(REPO))
        from tests.support.postgres import PostgresCluster

        cluster = PostgresCluster()
        cluster.start()
        try:
            url = cluster.create_database()
            seconds = prepare_index(url, specs, args.series, args.instances)
            notes.append(f"PostgreSQL: loaded in {seconds:.0f} s")
            with lienthong(work / "postgres", url) as port:
                rows.append((f"Lienthong PostgreSQL, {args.studies} studies / {total} instances",
                             measure([(port, "LIENTHONG")], specs, args.queries)[0]))
        finally:
            cluster.stop()

    report = table(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)
    (work / "report.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
