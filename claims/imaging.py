"""Imaging lines from the PACS (spec §6): XML3 rows of cost group 2 matched to stored studies by
accession number, and XML4 rows from the signed report.

* ``NGAY_TH_YL`` ← the study's performed-procedure start, else the earliest acquisition
  date-time, else StudyDate + StudyTime (§6.2; DICOM local time, spec.DICOM_TIME_IS_LOCAL).
* ``MA_MAY`` ← the machine code configured for the sending AE title or the station name
  (settings ``claims.machine_codes``), never guessed.
* ``NGUOI_THUC_HIEN`` ← the performing technologists' practising-certificate codes: Operators'
  Name (0008,1070) in the stored metadata, mapped by ``claims.technologist_codes``
  (spec.IMAGING_PERFORMER, UNVERIFIED). Names are never logged.
* XML4 ``MO_TA``/``KET_LUAN``/``NGAY_KQ``/``MA_BS_DOC_KQ`` and XML3 ``NGAY_KQ`` ← the signed report,
  read only through :func:`signed_report_for`.

Values already in the record are replaced only by values found in the PACS; nothing is invented.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from claims import spec, values
from claims.records.episode import EpisodeRecord, Row
from pacs.index.attributes import fold_name
from pacs.index.models import Instance, Series, Study
from pacs.reports.service import latest_signed_report

OPERATORS_NAME = "00081070"


@dataclass(frozen=True)
class SignedReport:
    """A final, signed imaging report: findings, conclusion, signing time, readers' CCHN codes."""

    findings: str
    conclusion: str
    signed_at: dt.datetime
    reader_codes: tuple[str, ...]


def signed_report_for(session: Session, study_instance_uid: str) -> SignedReport | None:
    """The signed report of a study, or None when it has none.

    This is the one place claims read reports (the newest signed version; an amendment still
    in draft does not count). The signing time is stored in UTC and written in the server's
    local time zone, the facility's clock (spec.REPORT_TIME_IS_SERVER_LOCAL). Report text is
    never made up: without a signed report, XML4 keeps what the HIS sent. A reader without a
    practising-certificate code gives an empty MA_BS_DOC_KQ, which the pre-check refuses.
    """
    report = latest_signed_report(session, study_instance_uid)
    if report is None:
        return None
    codes = (report.reader_practice_code,) if report.reader_practice_code else ()
    return SignedReport(report.findings, report.conclusion,
                        report.signed_at.astimezone().replace(tzinfo=None), codes)


@dataclass(frozen=True)
class StudyFacts:
    study_instance_uid: str
    performed_at: dt.datetime | None
    machine_code: str
    performer_codes: tuple[str, ...]


def _dicom_dt(date: str, time: str) -> dt.datetime | None:
    date = date.strip()
    time = (time.strip().split(".")[0] + "0000")[:4]
    if len(date) != 8 or not time.isdigit():
        return None
    try:
        return dt.datetime.strptime(date + time, "%Y%m%d%H%M")
    except ValueError:
        return None


def _operators(metadata_json: str) -> list[str]:
    element = json.loads(metadata_json).get(OPERATORS_NAME, {})
    names = []
    for value in element.get("Value", []):
        text = value.get("Alphabetic", "") if isinstance(value, dict) else str(value)
        if text:
            names.append(text)
    return names


def study_facts(session: Session, study: Study, machine_codes: Mapping[str, str],
                technologist_codes: Mapping[str, str]) -> StudyFacts:
    """What the PACS knows about the performance of ``study``."""
    series = session.scalars(select(Series).where(Series.study_fk == study.id)
                             .order_by(Series.id)).all()
    times: list[dt.datetime] = []
    machine = ""
    performers: list[str] = []
    folded_codes = {fold_name(k): v for k, v in technologist_codes.items()}
    for s in series:
        pps = _dicom_dt(s.performed_procedure_step_start_date,
                        s.performed_procedure_step_start_time)
        if pps:
            times.append(pps)
        first = session.scalars(select(Instance).where(Instance.series_fk == s.id)
                                .order_by(Instance.id).limit(1)).first()
        if first is None:
            continue
        acq = first.acquisition_datetime
        if not pps and acq:
            t = _dicom_dt(acq[:8], acq[8:])
            if t:
                times.append(t)
        if not machine:
            machine = machine_codes.get(first.calling_ae_title, "") or machine_codes.get(
                s.station_name, "")
        for name in _operators(first.metadata_json):
            code = folded_codes.get(fold_name(name), "")
            if code and code not in performers:
                performers.append(code)
    if not times:
        fallback = _dicom_dt(study.study_date, study.study_time)
        if fallback:
            times.append(fallback)
    return StudyFacts(study.study_instance_uid, min(times) if times else None, machine,
                      tuple(performers))


def _result_row(episode: EpisodeRecord, service: Row) -> Row:
    rows = episode.tables.setdefault("XML4", [])
    for r in rows:
        if r.get("MA_DICH_VU") == service.get("MA_DICH_VU"):
            return r
    row: Row = {"MA_LK": episode.ma_lk, "STT": str(len(rows) + 1),
                "MA_DICH_VU": service.get("MA_DICH_VU", "")}
    if spec.IMAGING_TEN_CHI_SO_FROM_SERVICE:
        row["TEN_CHI_SO"] = service.get("TEN_DICH_VU", "").split(" [")[0]
    rows.append(row)
    return row


def fill_imaging(session: Session, episode: EpisodeRecord, machine_codes: Mapping[str, str],
                 technologist_codes: Mapping[str, str]) -> list[str]:
    """Fill the imaging XML3 rows (and XML4 from signed reports) of ``episode`` in place.

    Returns the StudyInstanceUIDs that were matched.
    """
    matched: list[str] = []
    for index, accession in sorted(episode.accession_numbers.items()):
        rows = episode.rows("XML3")
        if not accession or index >= len(rows):
            continue
        line = rows[index]
        study = session.scalars(select(Study).where(Study.accession_number == accession)
                                .order_by(Study.id)).first()
        if study is None:
            continue
        facts = study_facts(session, study, machine_codes, technologist_codes)
        matched.append(facts.study_instance_uid)
        if facts.performed_at is not None:
            line["NGAY_TH_YL"] = values.format_datetime(facts.performed_at)
        if facts.machine_code:
            line["MA_MAY"] = facts.machine_code
        if facts.performer_codes:
            line["NGUOI_THUC_HIEN"] = ";".join(facts.performer_codes)
        report = signed_report_for(session, facts.study_instance_uid)
        if report is not None:
            result = _result_row(episode, line)
            result["MO_TA"], result["KET_LUAN"] = report.findings, report.conclusion
            result["NGAY_KQ"] = line["NGAY_KQ"] = values.format_datetime(report.signed_at)
            result["MA_BS_DOC_KQ"] = ";".join(report.reader_codes)
    return matched
