"""Portal client against the stand-in: submit, receipts, acknowledgements, outages, no
double-sending (reliability G10/G11)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from claims import synthetic
from claims.build.document import serialise
from claims.build.envelope import build_claim_file
from claims.checkin import checkin_document, send_checkin
from claims.codes import CodeLists
from claims.errors import RuleViolations
from claims.export import ExportConfig, export_day
from claims.portal.http import HttpPortalClient
from claims.portal.submit import refresh_acknowledgements, requeue, submit_day
from claims.records.models import ClaimExport
from claims.records.store import save_episode
from claims.sign import SigningKey, sign_document, verify_document
from claims.validate.safexml import parse_xml
from lienthong.db import make_engine, make_sessionmaker
from lienthong.migrate import upgrade
from tests.claims.conftest import DAY, claims_env
from tests.support.portal_standin import PortalStandIn
from tests.support.server import REPO_ROOT, lienthong

USER, PASSWORD = "79001_BV", "portal-test-password"


@pytest.fixture()
def portal():  # type: ignore[no-untyped-def]
    with PortalStandIn(USER, PASSWORD) as p:
        yield p


def client(portal: PortalStandIn, password: str = PASSWORD) -> HttpPortalClient:
    return HttpPortalClient(portal.url, USER, password, "79001", timeout=5)


def test_submit_returns_a_receipt(portal: PortalStandIn, signing_key: SigningKey) -> None:
    e = synthetic.episode(1, DAY)
    signed = serialise(sign_document(build_claim_file(e, "79001", DAY)[0], signing_key))
    receipt = client(portal).submit(signed)
    assert receipt.received and receipt.ma_giao_dich and len(receipt.thoi_gian_tiep_nhan) == 14
    assert portal.state.submissions[e.ma_lk] == 1
    assert client(portal).acknowledgement(receipt.ma_giao_dich).state == "accepted"


def test_unsigned_file_and_wrong_password_are_refused(portal: PortalStandIn) -> None:
    e = synthetic.episode(2, DAY)
    unsigned = serialise(build_claim_file(e, "79001", DAY)[0])
    assert client(portal).submit(unsigned).ma_ket_qua == "202"
    from claims.portal.client import PortalError

    with pytest.raises(PortalError, match="login refused"):
        client(portal, "wrong").submit(unsigned)
    assert portal.state.submissions[e.ma_lk] == 0


def test_plain_http_is_refused_except_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        HttpPortalClient("http://egw.example.vn", USER, PASSWORD, "79001")


def _exported(tmp_path: Path, key: SigningKey, codes: CodeLists, n: int):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as s:
        for i in range(n):
            save_episode(s, synthetic.episode(i, DAY, lines=6), "api")
    cfg = ExportConfig("79001", tmp_path / "outbox", key, codes)
    export_day(sessions, cfg, DAY, dt.date(2026, 12, 1))
    return sessions, cfg


def _states(sessions) -> list[str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    with sessions() as s:
        return sorted(s.scalars(select(ClaimExport.status)).all())


def test_each_episode_sent_once_across_outage_and_reruns(
    tmp_path: Path, portal: PortalStandIn, signing_key: SigningKey, codes: CodeLists
) -> None:
    sessions, cfg = _exported(tmp_path, signing_key, codes, 5)
    portal.state.failures = ["", "", "503"]
    first = submit_day(sessions, client(portal), cfg.outbox, DAY)
    # An explicit 503 means "not received": the run stops and the file stays queued.
    assert first.submitted == 2 and "503" in first.stopped and first.uncertain == []
    second = submit_day(sessions, client(portal), cfg.outbox, DAY)
    assert second.submitted == 3 and not second.stopped
    third = submit_day(sessions, client(portal), cfg.outbox, DAY)
    assert third.submitted == 0
    assert sorted(portal.state.submissions.values()) == [1, 1, 1, 1, 1]
    assert refresh_acknowledgements(sessions, client(portal)) == 5
    assert _states(sessions) == ["accepted"] * 5


def test_received_then_connection_dropped_is_flagged_not_resent(
    tmp_path: Path, portal: PortalStandIn, signing_key: SigningKey, codes: CodeLists,
    p12: tuple[Path, x509.Certificate]
) -> None:
    sessions, cfg = _exported(tmp_path, signing_key, codes, 2)
    portal.state.failures = ["drop"]
    report = submit_day(sessions, client(portal), cfg.outbox, DAY)
    assert report.uncertain and report.submitted == 0
    again = submit_day(sessions, client(portal), cfg.outbox, DAY)
    assert again.submitted == 1 and again.uncertain == report.uncertain
    assert sorted(portal.state.submissions.values()) == [1, 1]
    # Only after the operator's check is it re-queued (here it was received: no requeue).
    with sessions.begin() as s:
        assert requeue(s, "no-such-episode") is False


def test_portal_down_keeps_files_queued(tmp_path: Path, signing_key: SigningKey,
                                        codes: CodeLists) -> None:
    from tests.support.server import free_port

    sessions, cfg = _exported(tmp_path, signing_key, codes, 2)
    down = HttpPortalClient(f"http://127.0.0.1:{free_port()}", USER, PASSWORD, "79001", timeout=5)
    report = submit_day(sessions, down, cfg.outbox, DAY)
    assert report.submitted == 0 and report.uncertain == [] and report.stopped
    assert _states(sessions) == ["written", "written"]


def test_rejection_is_tracked_with_its_reason(
    tmp_path: Path, portal: PortalStandIn, signing_key: SigningKey, codes: CodeLists
) -> None:
    sessions, cfg = _exported(tmp_path, signing_key, codes, 2)
    rejected = synthetic.episode(0, DAY).ma_lk
    portal.state.reject_ma_lk[rejected] = "Sai mã thẻ BHYT"
    submit_day(sessions, client(portal), cfg.outbox, DAY)
    refresh_acknowledgements(sessions, client(portal))
    from sqlalchemy import select

    with sessions() as s:
        rows = s.scalars(select(ClaimExport).order_by(ClaimExport.id)).all()
        assert [r.status for r in rows] == ["rejected", "accepted"]
        assert "Sai mã thẻ BHYT" in rows[0].portal_message


def test_checkin_is_signed_validated_and_received(portal: PortalStandIn,
                                                  signing_key: SigningKey) -> None:
    e = synthetic.episode(21, DAY)
    document = checkin_document([e], signing_key)
    assert verify_document(parse_xml(document)) == signing_key.certificate
    receipt = send_checkin(client(portal), [e], signing_key)
    assert receipt.received and receipt.ma_giao_dich
    assert portal.state.checkins == {e.ma_lk: 1} and not portal.state.submissions
    # The portal refuses a check-in without a signature, and a claim file sent as a check-in.
    assert client(portal).check_in(checkin_document([e], None)).ma_ket_qua == "202"
    claim = serialise(sign_document(build_claim_file(e, "79001", DAY)[0], signing_key))
    assert client(portal).check_in(claim).ma_ket_qua == "202"
    assert portal.state.checkins == {e.ma_lk: 1}


def test_checkin_row_that_breaks_its_schema_is_not_sent(signing_key: SigningKey) -> None:
    e = synthetic.episode(22, DAY)
    e.xml1["NGAY_VAO"] = "30/11/2026"
    with pytest.raises(RuleViolations) as info:
        checkin_document([e], signing_key)
    assert any("NGAY_VAO" in str(v) for v in info.value.violations)


def test_checkin_command_signs_and_sends(tmp_path: Path, portal: PortalStandIn,
                                         p12: tuple[Path, x509.Certificate]) -> None:
    data = tmp_path / "data"
    e = synthetic.episode(23, DAY, lines=6)
    source = tmp_path / "one.json"
    source.write_text(json.dumps({"XML1": e.xml1, **{k: v for k, v in e.tables.items()
                                                     if k != "XML1"}}, ensure_ascii=False))
    lienthong(data, "claims", "import", str(source))
    env = {**claims_env(p12[0]), "LIENTHONG_CLAIMS__PORTAL_URL": portal.url,
           "LIENTHONG_CLAIMS__PORTAL_USERNAME": USER,
           "LIENTHONG_CLAIMS__PORTAL_PASSWORD": PASSWORD}
    printed = subprocess.run(
        [sys.executable, "-m", "lienthong.cli", "--data-dir", str(data), "claims", "checkin",
         e.ma_lk], capture_output=True, timeout=120, cwd=REPO_ROOT, check=True,
        env={**os.environ, **env})
    assert verify_document(parse_xml(printed.stdout)) == p12[1]
    sent = lienthong(data, "claims", "checkin", e.ma_lk, "--send", env=env)
    assert "checked in, transaction" in sent.stdout and portal.state.checkins == {e.ma_lk: 1}
    no_password = {k: v for k, v in env.items() if not k.endswith("CERTIFICATE_PASSWORD")}
    refused = lienthong(data, "claims", "checkin", e.ma_lk, "--send", env=no_password,
                        check=False)
    assert refused.returncode != 0 and "certificate_password" in refused.stderr
    assert portal.state.checkins == {e.ma_lk: 1}


def test_one_episode_with_a_control_character_is_refused_and_the_day_goes_on(
    tmp_path: Path, database_url: str, signing_key: SigningKey, codes: CodeLists
) -> None:
    sessions = make_sessionmaker(make_engine(database_url))
    bad = synthetic.episode(31, DAY)
    bad.xml1["HO_TEN"] = "Lê\x01 Minh"
    with sessions.begin() as session:
        save_episode(session, synthetic.episode(30, DAY), "api")
        save_episode(session, bad, "api")
    report = export_day(sessions, ExportConfig("79001", tmp_path / "outbox", signing_key, codes),
                        DAY, dt.date(2026, 12, 1))
    assert (report.written, report.refused) == (1, 1)
    assert any(v.ma_lk == bad.ma_lk and v.field == "HO_TEN" for v in report.violations)
