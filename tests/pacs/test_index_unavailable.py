"""The index database goes away mid-run: C-STORE fails cleanly (0xA701), C-ECHO still answers,
and storing resumes by itself once PostgreSQL is back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.archive import snapshot
from tests.support.dcmtk import echoscu, storescu
from tests.support.postgres import PostgresCluster
from tests.support.scu import send_file
from tests.support.server import LienthongServer, lienthong
from tests.support.synthetic import make_study, sop_instance_uid

SUCCESS = 0x0000
INDEX_UNAVAILABLE = 0xA701  # PS3.4 B.2.3 Refused: Out of Resources (index unreachable)


@pytest.mark.postgres
@pytest.mark.slow
def test_store_while_postgres_is_down(postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    url = postgres_cluster.create_database()
    env = {"LIENTHONG_DATABASE_URL": url}
    data_dir = tmp_path / "data"
    lienthong(data_dir, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104", env=env)
    study = make_study(tmp_path / "gen", patient_id="PGDOWN", per_series=6)
    first, during, *after = study.files
    server = LienthongServer(data_dir, env=env).start()
    paused = False
    try:
        assert send_file(server.dicom_port, first) == SUCCESS
        before = snapshot(data_dir, url)

        postgres_cluster.pause()
        paused = True
        # The peer check has just been answered from the table (cached for a second): wait it
        # out so the next associations really meet the unreachable database.
        time.sleep(1.5)
        assert echoscu(server.dicom_port), "C-ECHO must not depend on the index"
        assert send_file(server.dicom_port, during) == INDEX_UNAVAILABLE
        result = storescu(server.dicom_port, [after[0]])
        assert "Store Response (Success)" not in result.stderr
        objects = {p.name for p in (data_dir / "objects").glob("*/*/*")}
        assert objects == before.objects, "a refused instance left its file behind"
        assert list((data_dir / "tmp").iterdir()) == []
        assert echoscu(server.dicom_port)
        assert "0xA701" in server.read_log()

        postgres_cluster.resume()
        paused = False
        deadline = time.monotonic() + 30
        while (status := send_file(server.dicom_port, after[1])) != SUCCESS:
            assert time.monotonic() < deadline, f"still 0x{status:04X} 30 s after PostgreSQL"
            time.sleep(0.5)
        # And the instance refused while it was down can simply be sent again.
        assert send_file(server.dicom_port, during) == SUCCESS

        snap = snapshot(data_dir, url)
        assert set(snap.instances) == {sop_instance_uid(p) for p in (first, during, after[1])}
        assert snap.objects == snap.indexed_keys and snap.temporary == []
    finally:
        if paused:
            postgres_cluster.resume()
        exit_code = server.stop()
    assert exit_code == 0
