"""Imaging orders: validation naming the field, life cycle, link to arriving images."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.clock import hospital_today
from lienthong.db import make_engine, make_sessionmaker
from pacs.errors import NoSuchOrder, OrderRejected
from pacs.orders.models import ImagingOrder, OrderStatus
from pacs.orders.schema import parse_create, parse_update
from pacs.orders.service import cancel_order, create_order, get_order, update_order


def order_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "patient_id": "BN0100",
        "patient_name": "Lê Thị Hồng",
        "patient_birth_date": "1980-02-29",
        "patient_sex": "F",
        "patient_address": "12 Trần Phú, Hà Tĩnh",
        "ma_the_bhyt": "DN4797933240567",
        "ma_lk": "LK2026120300017",
        "ma_dich_vu": "18.0001.0001",
        "requested_procedure_description": "Chụp CT sọ não không tiêm thuốc",
        "modality": "CT",
        "scheduled_station_ae_title": "CT01",
        "scheduled_at": "2026-12-03T14:30:00",
        "referring_physician_name": "Phạm Minh Châu",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


@pytest.fixture()
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """One SQLite index for the validation cases: they are refused before any SQL runs."""
    from lienthong.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('orders') / 'index.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count(ImagingOrder.id))) or 0)


def test_create_normalises_and_generates_keys(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        order = create_order(session, parse_create(order_payload()))
        accession, uid = order.accession_number, order.study_instance_uid
    with sessions() as session:
        stored = get_order(session, accession)
        assert stored.status == OrderStatus.SCHEDULED
        assert stored.patient_name == "Lê^Thị Hồng"
        assert stored.patient_name_folded == "LE^THI HONG"
        assert stored.patient_birth_date == "19800229"
        assert (stored.scheduled_date, stored.scheduled_time) == ("20261203", "143000")
        assert stored.ma_the_bhyt == "DN4797933240567"
        assert len(accession) <= 16 and accession.isdigit()
        assert uid.replace(".", "").isdigit() and len(uid) <= 64
        assert stored.requested_procedure_id == accession


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"patient_id": ""}, "patient_id"),
        ({"patient_name": "   "}, "patient_name"),
        ({"patient_name": "A\\B"}, "patient_name"),
        ({"patient_birth_date": "1980-02-30"}, "patient_birth_date"),
        ({"patient_birth_date": "2999-01-01"}, "patient_birth_date"),
        ({"patient_sex": "X"}, "patient_sex"),
        ({"ma_the_bhyt": "DN47979332405"}, "ma_the_bhyt"),
        ({"ma_dich_vu": None}, "ma_dich_vu"),
        ({"ma_lk": "x" * 101}, "ma_lk"),
        ({"modality": "XYZ"}, "modality"),
        ({"scheduled_station_ae_title": "A" * 17}, "scheduled_station_ae_title"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"scheduled_at": None}, "scheduled_at"),
        ({"accession_number": "A/../B"}, "accession_number"),
        ({"study_instance_uid": "1.2.abc"}, "study_instance_uid"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    sqlite_sessions: sessionmaker[Session], changes: dict[str, Any], field: str
) -> None:
    before = count(sqlite_sessions)
    with pytest.raises(OrderRejected) as caught:
        with sqlite_sessions.begin() as session:
            create_order(session, parse_create(order_payload(**changes)))
    assert caught.value.field == field
    assert caught.value.http_status == 422
    assert count(sqlite_sessions) == before


def test_a_newborn_of_the_hospitals_today_is_accepted(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    """"In the future" is judged on the hospital's day (UTC+7), not the server's clock: from
    17:00 UTC a baby born today in Vietnam has a birth date after the UTC date."""
    today = hospital_today()
    tomorrow = today + dt.timedelta(days=1)
    with sqlite_sessions.begin() as session:
        order = create_order(session, parse_create(order_payload(
            patient_birth_date=today.isoformat())))
        assert order.patient_birth_date == today.strftime("%Y%m%d")
    with pytest.raises(OrderRejected) as caught:
        parse_create(order_payload(patient_birth_date=tomorrow.isoformat()))
    assert caught.value.field == "patient_birth_date"


def test_duplicate_accession_is_rejected_and_rolled_back(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        create_order(session, parse_create(order_payload(accession_number="ACC1")))
    with pytest.raises(OrderRejected) as caught:
        with sessions.begin() as session:
            create_order(session, parse_create(order_payload(accession_number="ACC1")))
    assert caught.value.field == "accession_number"
    assert count(sessions) == 1


def test_update_and_cancel(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        create_order(session, parse_create(order_payload(accession_number="ACC2")))
    with sessions.begin() as session:
        order = update_order(session, "ACC2", parse_update(
            {"scheduled_at": "2026-12-04T08:00:00", "patient_name": "Lê^Thị Hồng Nhung"}))
        assert order.scheduled_date == "20261204"
        assert order.patient_name_folded == "LE^THI HONG NHUNG"
        assert order.modality == "CT"  # not sent, not changed
    with pytest.raises(OrderRejected) as caught, sessions.begin() as session:
        update_order(session, "ACC2", parse_update({"modality": None}))
    assert caught.value.field == "modality"
    with sessions.begin() as session:
        assert cancel_order(session, "ACC2", "bệnh nhân từ chối").status == "cancelled"
    with pytest.raises(OrderRejected) as refused, sessions.begin() as session:
        update_order(session, "ACC2", parse_update({"modality": "MR"}))
    assert refused.value.field == "status"
    with pytest.raises(NoSuchOrder), sessions.begin() as session:
        cancel_order(session, "NOPE")


def test_images_with_the_accession_number_link_the_order(
    database_url: str, tmp_path: Any
) -> None:
    from lienthong.settings import load_settings
    from pacs.archive import open_archive
    from pacs.demo import demo_datasets, encode
    from pacs.index.models import Study

    settings = load_settings(data_dir=tmp_path / "data", database_url=database_url,
                             storage={"min_free_bytes": 0})
    archive = open_archive(settings)
    try:
        with archive.sessions.begin() as session:
            order = create_order(session, parse_create(order_payload(accession_number="ACC3")))
            planned_uid = order.study_instance_uid
        ds = next(iter(demo_datasets(dt.date(2026, 12, 3))))
        ds.AccessionNumber = "ACC3"
        ds.StudyInstanceUID = planned_uid
        archive.ingest(encode(ds), transfer_syntax_uid="1.2.840.10008.1.2.1",
                       sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID)
        with archive.sessions() as session:
            linked = get_order(session, "ACC3")
            study = session.scalar(select(Study).where(Study.study_instance_uid == planned_uid))
            assert study is not None
            assert linked.status == OrderStatus.IMAGES_RECEIVED
            assert linked.study_fk == study.id
    finally:
        archive.close()


def test_worklist_matching_on_both_databases(sessions: sessionmaker[Session]) -> None:
    from pacs.errors import InvalidIdentifier
    from pacs.orders.worklist import SPS, find_worklist

    with sessions.begin() as session:
        create_order(session, parse_create(order_payload(accession_number="W1")))
        create_order(session, parse_create(order_payload(
            accession_number="W2", modality="MR", scheduled_station_ae_title="MR01",
            patient_name="Đặng Văn Ông", scheduled_at="2026-12-05T07:30:00")))
        create_order(session, parse_create(order_payload(accession_number="W3")))
        cancel_order(session, "W3")
    with sessions() as session:
        def accessions(filters: dict[str, str], step: dict[str, str], fuzzy: bool = False) -> \
                list[str]:
            return [e["AccessionNumber"] for e in find_worklist(session, filters, step,
                                                                fuzzy=fuzzy)]

        assert accessions({}, {}) == ["W1", "W2"]  # by scheduled time; cancelled left out
        assert accessions({}, {"ScheduledStationAETitle": "MR01"}) == ["W2"]
        assert accessions({}, {"ScheduledProcedureStepStartDate": "20261204-"}) == ["W2"]
        assert accessions({}, {"Modality": "CT\\MR"}) == ["W1", "W2"]
        assert accessions({"PatientName": "DANG^VAN*"}, {}, fuzzy=True) == ["W2"]
        assert accessions({"PatientName": "DANG^VAN*"}, {}) == []
        (entry,) = find_worklist(session, {"AccessionNumber": "W1"}, {})
        assert entry[SPS]["ScheduledProcedureStepStatus"] == "SCHEDULED"
        assert entry[SPS]["ScheduledProcedureStepStartTime"] == "143000"
        with pytest.raises(InvalidIdentifier):
            find_worklist(session, {}, {"ScheduledProcedureStepStartDate": "05/12/2026"})
