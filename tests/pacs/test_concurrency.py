"""Eight modalities sending at once: nothing lost or mixed, and the HTTP side keeps answering."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from collections import Counter
from pathlib import Path

from tests.support.archive import register_peers, snapshot
from tests.support.dcmtk import require, store_responses
from tests.support.server import LienthongServer, lienthong
from tests.support.synthetic import SyntheticStudy, make_study, sop_instance_uid

MODALITIES = 8
SERIES = 2
PER_SERIES = 12


def test_eight_modalities_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    titles = [f"MODALITY_{n}" for n in range(MODALITIES)]
    register_peers(data_dir, titles)
    studies: list[SyntheticStudy] = [
        make_study(tmp_path / f"m{n}", patient_id=f"CONC{n}", series=SERIES,
                   per_series=PER_SERIES, size=96, seed=n)
        for n in range(MODALITIES)
    ]
    server = LienthongServer(data_dir, calling_ae=titles[0]).start()
    health: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def poll_health() -> None:
        url = f"http://127.0.0.1:{server.http_port}/healthz"
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    health.append(response.status)
            except OSError as exc:  # includes a 5 s timeout and HTTP errors
                errors.append(repr(exc))
            stop.wait(0.05)

    poller = threading.Thread(target=poll_health, daemon=True)
    try:
        poller.start()
        senders = [
            subprocess.Popen(
                [require("storescu"), "-v", "-aet", title, "-aec", "LIENTHONG", "-nh",
                 "127.0.0.1", str(server.dicom_port), *map(str, study.files)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for title, study in zip(titles, studies, strict=True)
        ]
        outputs = [p.communicate(timeout=240)[0] for p in senders]
        stop.set()
        poller.join(10)
        assert not poller.is_alive()

        for study, output in zip(studies, outputs, strict=True):
            responses = store_responses(output)
            assert [r for _, r in responses] == ["Success"] * len(study.files), output[-2000:]
        assert errors == []
        assert len(health) >= 2 and set(health) == {200}

        snap = snapshot(data_dir)
        expected_total = MODALITIES * SERIES * PER_SERIES
        assert len(snap.instances) == expected_total
        assert snap.objects == snap.indexed_keys and snap.temporary == []
        for study in studies:
            for path in study.files:
                row = snap.instances[sop_instance_uid(path)]
                series_number = int(path.name[1:3])  # "sNNiMMMM.dcm" from make_study
                assert row.study_instance_uid == study.study_instance_uid
                assert row.series_instance_uid == study.series_instance_uids[series_number - 1]
        per_series = Counter(row.series_instance_uid for row in snap.instances.values())
        assert set(per_series.values()) == {PER_SERIES}
        assert len(per_series) == MODALITIES * SERIES

        listed = {s["study_instance_uid"]: s for s in studies_json(data_dir)}
        for study in studies:
            entry = listed[study.study_instance_uid]
            assert (entry["series"], entry["instances"]) == (SERIES, SERIES * PER_SERIES)
            assert entry["patient_id"] == study.patient_id and entry["modalities"] == "CT"
        log = server.read_log()
        assert "Nghiệm" not in log and "Nghi\\u1ec7m" not in log  # no patient names in logs
    finally:
        stop.set()
        assert server.stop() == 0


def studies_json(data_dir: Path) -> list[dict[str, object]]:
    return json.loads(lienthong(data_dir, "studies", "--json").stdout)


def _established_per_process(pids: list[int], port: int) -> list[int]:
    """How many established TCP connections on local `port` each process holds (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    counts = []
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        links = []
        for fd in fd_dir.iterdir():
            try:
                links.append(fd.readlink().name)
            except OSError:
                continue
        counts.append(sum(1 for link in links if link.startswith("socket:[")
                          and link[8:-1] in inodes))
    return counts


def test_associations_are_spread_over_the_workers(tmp_path: Path) -> None:
    """Four modalities connect one after another: each of the two workers serves two (with
    the port's hash spreading of SO_REUSEPORT, three or four on one worker was common)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

    data_dir = tmp_path / "data"
    register_peers(data_dir, ["MODALITY_0"])
    server = LienthongServer(data_dir, calling_ae="MODALITY_0", workers=2).start()
    associations = []
    try:
        workers = [int(p) for p in Path(f"/proc/{server.process.pid}/task/{server.process.pid}"
                                        "/children").read_text().split()]
        assert len(workers) >= 2
        for _ in range(4):
            ae = AE("MODALITY_0")
            ae.add_requested_context(CTImageStorage)
            assoc = ae.associate("127.0.0.1", server.dicom_port, ae_title="LIENTHONG")
            assert assoc.is_established
            associations.append(assoc)
        counts = [c for c in _established_per_process(workers, server.dicom_port) if c]
        assert sorted(counts) == [2, 2], counts
    finally:
        for assoc in associations:
            assoc.release()
        assert server.stop() == 0


def test_a_busier_worker_yields_then_accepts_if_nobody_else_does() -> None:
    """A worker serving more associations than another lets it accept; if that one never
    does (stuck), the busier worker accepts after a short patience rather than never."""
    from pacs.scp.server import AcceptBalance

    loads = [0, 0]
    first, second = AcceptBalance(loads, 0), AcceptBalance(loads, 1)
    assert first.my_turn(0) and second.my_turn(0)  # a tie: both may try, one gets it
    first.publish(1)
    assert second.my_turn(0)  # the less busy worker accepts
    assert not first.my_turn(1)  # the busier one leaves it ...
    tries = 1
    while not first.my_turn(1):  # ... until the other has not taken it for a while
        tries += 1
        assert tries < 10_000
    assert tries > 1
