"""The same gateway on a real PostgreSQL index: search, metadata, retrieve, store."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from tests.gateway.dicomweb.conftest import Gateway, serve_gateway, variant
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.postgres

CT = "series/ct_head_ge_tilt/01.dcm"


@pytest.fixture(scope="module")
def pg_gateway(
    shared_dicom: Path, postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    url = postgres_cluster.create_database()
    data_dir = tmp_path_factory.mktemp("dicomweb-pg") / "data"
    with serve_gateway(shared_dicom, data_dir, url) as served:
        yield served


def test_vietnamese_search_on_postgres(pg_gateway: Gateway) -> None:
    found = pg_gateway.client().search_for_studies(search_filters={"PatientName": "Lương*"})
    assert {f["00100010"]["Value"][0]["Alphabetic"] for f in found} == {
        "Lương^Thị Đào",
        "Lương^Văn Minh",
    }
    fuzzy = pg_gateway.client().search_for_studies(
        search_filters={"PatientName": "LUONG^THI*"}, fuzzymatching=True
    )
    assert [f["00100010"]["Value"][0]["Alphabetic"] for f in fuzzy] == ["Lương^Thị Đào"]


def test_metadata_retrieve_and_store_on_postgres(pg_gateway: Gateway, shared_dicom: Path) -> None:
    ds = pg_gateway.datasets[CT]
    client = pg_gateway.client()
    metadata = client.retrieve_series_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert len(metadata) == 3
    new = dcmread(io.BytesIO(variant((shared_dicom / CT).read_bytes(), PatientID="PG1")))
    stored = client.store_instances([new])
    assert stored.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == new.SOPInstanceUID
    back = client.retrieve_study(new.StudyInstanceUID)
    assert len(back) == 1
    assert np.array_equal(back[0].pixel_array, new.pixel_array)
