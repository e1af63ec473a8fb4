"""The start-up check of files indexed before their flush, on SQLite and PostgreSQL: what a
power cut between a one-flush commit and its flush can leave (a file missing or cut short
behind a committed row) is removed with its row and counts; intact files keep theirs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import func, insert, select

from lienthong.db import make_engine, make_sessionmaker, writer_engine
from pacs.demo import PATIENTS, demo_datasets, encode
from pacs.index.committer import GroupCommitter
from pacs.index.ingest import Outcome, PreparedInstance, prepare_instance
from pacs.index.models import Instance, QuarantinedInstance, Series, Study, UnflushedFile
from pacs.orders.models import ImagingOrder
from pacs.repair import repair_unflushed
from pacs.storage.filesystem import FilesystemStore


class Site:
    def __init__(self, url: str, folder: Path) -> None:
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.store = FilesystemStore(folder / "objects", folder / "tmp")
        self.committer = GroupCommitter(make_sessionmaker(writer_engine(self.engine)),
                                        self.store, batch=16)

    def ingest(self, ds: Dataset) -> tuple[PreparedInstance, Outcome]:
        prepared = prepare_instance(
            self.store, encode(ds), transfer_syntax_uid=ExplicitVRLittleEndian,
            sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID)
        return prepared, self.committer.index(prepared)

    def mark(self, *keys: str) -> None:
        """What the one-flush commit leaves until a later transaction drops it."""
        with self.sessions.begin() as s:
            s.execute(insert(UnflushedFile), [{"file_key": k} for k in keys])


@pytest.fixture()
def site(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    site = Site(database_url, tmp_path)
    yield site
    site.committer.close()
    site.engine.dispose()


def _study(s, patient_id: str) -> Study | None:  # type: ignore[no-untyped-def]
    return s.scalar(select(Study).where(Study.patient_id == patient_id))


def test_damaged_files_lose_their_rows_and_counts(site: Site) -> None:
    datasets = list(demo_datasets(dt.date(2026, 12, 1)))
    prepared = {ds.SOPInstanceUID: site.ingest(ds)[0] for ds in datasets}
    ct = [ds for ds in datasets if ds.Modality == "CT"]
    lone = next(ds for ds in datasets if ds.PatientID == PATIENTS[2].patient_id)  # 1 image
    intact, cut, gone = prepared[ct[0].SOPInstanceUID], prepared[ct[1].SOPInstanceUID], \
        prepared[lone.SOPInstanceUID]
    with site.sessions() as s:
        ct_study = _study(s, ct[0].PatientID)
        assert ct_study is not None and _study(s, PATIENTS[2].patient_id) is not None
        before = (ct_study.number_of_instances, ct_study.size_bytes)
    # A power cut: one file cut short, one never written; all three marked unflushed.
    path = site.store.path(cut.file_key)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    site.store.path(gone.file_key).unlink()
    site.mark(intact.file_key, cut.file_key, gone.file_key)

    report = repair_unflushed(site.engine, site.store)

    assert (report.checked, report.removed) == (3, 2)
    with site.sessions() as s:
        keys = set(s.scalars(select(Instance.file_key)))
        assert intact.file_key in keys and not {cut.file_key, gone.file_key} & keys
        assert s.scalar(select(func.count()).select_from(UnflushedFile)) == 0
        ct_study = _study(s, ct[0].PatientID)
        assert ct_study is not None
        assert (ct_study.number_of_instances, ct_study.size_bytes) == (
            before[0] - 1, before[1] - cut.size_bytes)
        series = s.scalar(select(Series).where(Series.study_fk == ct_study.id))
        assert series is not None and series.number_of_instances == before[0] - 1
        # The lone image's series and study went with it (no order points at the study).
        assert _study(s, PATIENTS[2].patient_id) is None
        assert s.scalar(select(Series).where(
            Series.series_instance_uid == lone.SeriesInstanceUID)) is None
    assert site.store.exists(intact.file_key)
    assert not site.store.exists(cut.file_key)


def test_an_ordered_study_keeps_its_row(site: Site) -> None:
    """A study linked to an imaging order stays (empty) when its only image goes: the order
    keeps its link, and the image sent again lands in the same study."""
    lone = next(ds for ds in demo_datasets(dt.date(2026, 12, 1))
                if ds.PatientID == PATIENTS[2].patient_id)
    prepared, _ = site.ingest(lone)
    with site.sessions.begin() as s:
        study = _study(s, lone.PatientID)
        assert study is not None
        s.add(ImagingOrder(
            accession_number="A1", patient_id=lone.PatientID, patient_name="",
            patient_name_folded="", study_fk=study.id, study_instance_uid=lone.StudyInstanceUID,
            requested_procedure_id="RP1", scheduled_procedure_step_id="SPS1", modality="CR",
            scheduled_station_ae_title="CR01", scheduled_date="20261201",
            scheduled_time="091500"))
    site.store.path(prepared.file_key).unlink()
    site.mark(prepared.file_key)

    assert repair_unflushed(site.engine, site.store).removed == 1

    with site.sessions() as s:
        study = _study(s, lone.PatientID)
        assert study is not None
        assert (study.number_of_series, study.number_of_instances, study.size_bytes) == (0, 0, 0)
        assert study.modalities_in_study == ""
        assert s.scalar(select(func.count()).select_from(Instance)) == 0


def test_a_damaged_quarantined_copy_goes(site: Site) -> None:
    ds = next(iter(demo_datasets(dt.date(2026, 12, 1))))
    site.ingest(ds)
    ds.SeriesDescription = "changed"
    second, outcome = site.ingest(ds)
    assert outcome is Outcome.QUARANTINED
    site.store.path(second.file_key).unlink()
    site.mark(second.file_key)

    assert repair_unflushed(site.engine, site.store).removed == 1

    with site.sessions() as s:
        assert s.scalar(select(func.count()).select_from(QuarantinedInstance)) == 0
        assert s.scalar(select(func.count()).select_from(Instance)) == 1


def test_nothing_marked_nothing_read(site: Site) -> None:
    site.ingest(next(iter(demo_datasets(dt.date(2026, 12, 1)))))
    assert repair_unflushed(site.engine, site.store).checked == 0
