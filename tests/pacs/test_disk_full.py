"""A full storage volume: 0xA700, nothing half-written, and storing resumes once space is freed.

The instance files (objects/ and tmp/) live on a 16 MiB tmpfs; the index stays on the normal
disk so that the files, not the database, are what fills up.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest

from tests.support.archive import object_path, snapshot
from tests.support.dcmtk import store_responses, storescu
from tests.support.server import LienthongServer, lienthong
from tests.support.synthetic import dataset_digest, make_study, sop_instance_uid

VOLUME = "8m"
FILLER_BYTES = 2 * 1024 * 1024


# Two ways a volume fills: its bytes (caught by the free-space check before writing), or its
# inodes (free bytes remain, so the check passes and the write itself fails with ENOSPC).
LIMITS = {"bytes": f"size={VOLUME}", "inodes": f"size={VOLUME},nr_inodes=80"}


@contextlib.contextmanager
def mounted(mount_point: Path, options: str) -> Iterator[Path]:
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options + ",mode=0755", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, capture_output=True)


@pytest.fixture(params=sorted(LIMITS))
def small_volume(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    with mounted(tmp_path / "volume", LIMITS[request.param]) as mount_point:
        yield mount_point


def is_out_of_resources(response: str) -> bool:
    # storescu names the status; A7xx is "Refused: OutOfResources" in DCMTK's wording.
    return "OutOfResources" in response or "A700" in response.upper()


@pytest.mark.slow
def test_disk_full_refuses_with_a700_and_recovers(small_volume: Path, tmp_path: Path) -> None:
    data_dir = small_volume / "data"
    env = {
        "LIENTHONG_DATABASE_URL": f"sqlite:///{tmp_path / 'index.sqlite3'}",
        "LIENTHONG_STORAGE__MIN_FREE_BYTES": "0",
    }
    lienthong(data_dir, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104", env=env)
    fillers = [small_volume / "filler.bin"]
    with fillers[0].open("wb") as fp:
        fp.write(os.urandom(FILLER_BYTES))  # tmpfs does not compress: this really takes space
    for n in range(32):  # and some inodes
        fillers.append(small_volume / f"filler-{n}")
        fillers[-1].touch()
    # 256 x 256 x 16 bit: about 130 KB per instance, so 8 MiB holds well under 80.
    study = make_study(tmp_path / "gen", patient_id="FULL1", per_series=80, size=256)

    server = LienthongServer(data_dir, env=env, log_path=tmp_path / "server.log").start()
    try:
        # Two associations at once, as two modalities would: near the end both may pass the
        # free-space check and one write then meets ENOSPC itself; either way, no Success is
        # given for a file that is not complete and indexed.
        halves = [list(study.files[0::2]), list(study.files[1::2])]
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda files: storescu(server.dicom_port, files), halves))
        responses = [r for result in results for r in store_responses(result.stderr)]
        assert len(responses) == len(study.files), [r.stderr[-2000:] for r in results]
        ok = [name for name, r in responses if r == "Success"]
        refused = [name for name, r in responses if r != "Success"]
        assert ok and refused, "the volume never filled up"
        assert all(is_out_of_resources(r) for _, r in responses if r != "Success"), responses

        snap = snapshot(data_dir, env["LIENTHONG_DATABASE_URL"])
        assert snap.temporary == []
        assert set(snap.instances) == {sop_instance_uid(Path(n)) for n in ok}
        assert snap.objects == snap.indexed_keys  # no file without a row: nothing half-written
        for name in ok:
            row = snap.instances[sop_instance_uid(Path(name))]
            path = object_path(data_dir, row.file_key)
            assert dataset_digest(path) == dataset_digest(Path(name)) == row.sha256
            pydicom.dcmread(path)
        assert "refused with 0xA700" in server.read_log()

        # Free some space: storing works again without a restart.
        for filler in fillers:
            filler.unlink()
        retry = [Path(n) for n in refused[:5]]
        again = storescu(server.dicom_port, retry)
        assert [r for _, r in store_responses(again.stderr)] == ["Success"] * len(retry)
        snap = snapshot(data_dir, env["LIENTHONG_DATABASE_URL"])
        assert {sop_instance_uid(p) for p in retry} <= set(snap.instances)
        assert snap.objects == snap.indexed_keys and snap.temporary == []

        # Fill it up again and stop on a full volume: still a clean stop (exit 0 below).
        rest = storescu(server.dicom_port, [Path(n) for n in refused[len(retry):]])
        assert any(is_out_of_resources(r) for _, r in store_responses(rest.stderr))
        snap = snapshot(data_dir, env["LIENTHONG_DATABASE_URL"])
        assert snap.objects == snap.indexed_keys and snap.temporary == []
    finally:
        assert server.stop() == 0


@pytest.mark.slow
def test_read_only_volume_refuses_with_a700_and_recovers(tmp_path: Path) -> None:
    env = {"LIENTHONG_DATABASE_URL": f"sqlite:///{tmp_path / 'index.sqlite3'}"}
    study = make_study(tmp_path / "gen", patient_id="RDONLY", per_series=4)
    with mounted(tmp_path / "volume", f"size={VOLUME}") as volume:
        data_dir = volume / "data"
        lienthong(data_dir, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104",
                  env=env)
        server = LienthongServer(data_dir, env=env, log_path=tmp_path / "server.log").start()
        try:
            assert storescu(server.dicom_port, [study.files[0]]).stderr.count("(Success)") == 1
            # The volume turns read-only under the running server (a failing disk, a
            # remount by the OS after I/O errors): writes fail with EROFS.
            subprocess.run(["mount", "-o", "remount,ro", str(volume)], check=True)
            try:
                result = storescu(server.dicom_port, list(study.files[1:3]))
                responses = store_responses(result.stderr)
                assert len(responses) == 2 and all(is_out_of_resources(r) for _, r in responses)
                snap = snapshot(data_dir, env["LIENTHONG_DATABASE_URL"])
                assert set(snap.instances) == {sop_instance_uid(study.files[0])}
                assert snap.objects == snap.indexed_keys and snap.temporary == []
            finally:
                subprocess.run(["mount", "-o", "remount,rw", str(volume)], check=True)
            again = storescu(server.dicom_port, list(study.files[1:]))
            assert [r for _, r in store_responses(again.stderr)] == ["Success"] * 3
        finally:
            assert server.stop() == 0
