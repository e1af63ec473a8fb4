"""What was acknowledged survives: a clean restart, and kill -9 during parallel storescu runs."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from tests.support.archive import Snapshot, object_path, snapshot
from tests.support.dcmtk import require, store_responses, storescu
from tests.support.server import LienthongServer, lienthong
from tests.support.synthetic import SyntheticStudy, dataset_digest, make_study, sop_instance_uid


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    lienthong(data, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104")
    return data


def studies_json(data_dir: Path) -> list[dict[str, object]]:
    return json.loads(lienthong(data_dir, "studies", "--json").stdout)


def assert_consistent(data_dir: Path, snap: Snapshot) -> None:
    """No index row points at a missing file, and every stored file parses to its digest."""
    for row in snap.instances.values():
        path = object_path(data_dir, row.file_key)
        assert path.is_file(), f"index row {row.sop_instance_uid} points at a missing file"
        assert dataset_digest(path) == row.sha256
    for _uid, key, _sha in snap.quarantined:
        assert object_path(data_dir, key).is_file()


def test_restart_keeps_everything(data_dir: Path, tmp_path: Path) -> None:
    study = make_study(tmp_path / "gen", patient_id="RESTART1", series=2, per_series=12)
    server = LienthongServer(data_dir).start()
    try:
        result = storescu(server.dicom_port, list(study.files))
        assert result.stderr.count("Received Store Response (Success)") == len(study.files)
        before = studies_json(data_dir)
    finally:
        assert server.stop() == 0  # SIGTERM: a clean stop exits 0
    assert [(s["instances"], s["series"]) for s in before] == [(24, 2)]
    assert (data_dir / "clean-shutdown").is_file()

    server = LienthongServer(data_dir).start()
    try:
        assert studies_json(data_dir) == before
        snap = snapshot(data_dir)
        assert snap.temporary == []
        assert set(snap.instances) == {sop_instance_uid(f) for f in study.files}
        assert snap.objects == snap.indexed_keys
        assert_consistent(data_dir, snap)
        for row in snap.instances.values():
            stored = pydicom.dcmread(object_path(data_dir, row.file_key))
            assert stored.SOPInstanceUID == row.sop_instance_uid
            assert stored.SeriesInstanceUID == row.series_instance_uid
            _ = stored.pixel_array  # the pixels decode too
        # The restarted server still stores: one more series of the same study.
        more = storescu(server.dicom_port, list(study.files[:3]))
        assert more.stderr.count("Received Store Response (Success)") == 3
        assert studies_json(data_dir) == before  # re-sent identical instances: no new copies
    finally:
        assert server.stop() == 0


# --- kill -9 ----------------------------------------------------------------------------

SENDERS = 4
PER_SENDER = 150
ROUNDS = 3


@pytest.fixture()
def batches(tmp_path: Path) -> Iterator[list[list[SyntheticStudy]]]:
    """For each round, SENDERS distinct studies of PER_SENDER small CT instances."""
    yield [
        [
            make_study(tmp_path / f"r{r}s{s}", patient_id=f"KILL{r}{s}", per_series=PER_SENDER,
                       seed=10 * r + s)
            for s in range(SENDERS)
        ]
        for r in range(ROUNDS)
    ]


def start_senders(port: int, studies: list[SyntheticStudy], logs: Path) -> list[
        tuple[subprocess.Popen[bytes], Path]]:
    senders = []
    for n, study in enumerate(studies):
        log = logs / f"storescu-{n}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [require("storescu"), "-v", "-aet", "TESTSCU", "-aec", "LIENTHONG", "-nh",
                 "-to", "10", "127.0.0.1", str(port), *map(str, study.files)],
                stdout=out, stderr=subprocess.STDOUT,
            )
        senders.append((process, log))
    return senders


def acknowledged_count(logs: list[Path]) -> int:
    return sum(p.read_text(errors="replace").count("Store Response (Success)") for p in logs)


def wait_until_indexed(data_dir: Path, timeout: float) -> Snapshot:
    """Start-up recovery indexes orphan files in the background: wait (bounded) for it."""
    deadline = time.monotonic() + timeout
    while True:
        snap = snapshot(data_dir)
        if snap.objects <= snap.indexed_keys or time.monotonic() > deadline:
            return snap
        time.sleep(0.3)


@pytest.mark.slow
def test_kill9_during_parallel_stores_loses_nothing_acknowledged(
    data_dir: Path, tmp_path: Path, batches: list[list[SyntheticStudy]]
) -> None:
    seed = random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill moments drawn with seed {seed}")
    total = SENDERS * PER_SENDER
    server = LienthongServer(data_dir).start()
    acknowledged: dict[str, str] = {}  # SOP Instance UID -> digest of what was sent
    try:
        for round_no, studies in enumerate(batches):
            logs_dir = tmp_path / f"logs{round_no}"
            logs_dir.mkdir()
            digests = {str(f): dataset_digest(f) for s in studies for f in s.files}
            senders = start_senders(server.dicom_port, studies, logs_dir)
            logs = [log for _, log in senders]
            # Kill once a random share of the instances has been acknowledged, so that the
            # moment falls while all four associations are busy sending.
            target = int(total * rng.uniform(0.05, 0.6))
            deadline = time.monotonic() + 30
            while (acknowledged_count(logs) < target and time.monotonic() < deadline
                   and all(p.poll() is None for p, _ in senders)):
                time.sleep(0.02)
            assert any(p.poll() is None for p, _ in senders), "all senders finished before the kill"
            server.kill9()
            for process, _ in senders:
                process.wait(30)

            sent_ok: dict[str, str] = {}
            for log in logs:
                for name, response in store_responses(log.read_text(errors="replace")):
                    if response == "Success":
                        sent_ok[sop_instance_uid(Path(name))] = digests[name]
            assert 0 < len(sent_ok) < total
            acknowledged.update(sent_ok)

            server = LienthongServer(data_dir).start()
            assert snapshot(data_dir).temporary == []  # swept at start
            snap = wait_until_indexed(data_dir, timeout=30)
            assert snap.objects <= snap.indexed_keys, "orphan files were not indexed"
            assert snap.temporary == []
            missing = [uid for uid in acknowledged if uid not in snap.instances]
            assert not missing, f"round {round_no}: {len(missing)} acknowledged instances lost"
            for uid, digest in acknowledged.items():
                assert snap.instances[uid].sha256 == digest
            assert_consistent(data_dir, snap)
    finally:
        exit_code = server.stop()
    assert exit_code == 0
