"""Save and load episodes (data functions: take a Session, never commit)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from claims.errors import EpisodeLocked
from claims.records.episode import EpisodeRecord
from claims.records.models import ClaimEpisode, ClaimExport, ClaimRow
from claims.tables import CLAIM_TABLE_NAMES
from lienthong.db import utcnow


def save_episode(session: Session, episode: EpisodeRecord, source: str) -> ClaimEpisode:
    """Insert the episode, or replace all its rows when MA_LK exists (a re-import).

    Raises EpisodeLocked when the portal has accepted the episode: an accepted claim is
    corrected through the portal's own process, not by overwriting what was paid for.
    """
    x1 = episode.xml1
    row = session.scalars(select(ClaimEpisode).where(ClaimEpisode.ma_lk == episode.ma_lk)
                          ).one_or_none()
    if row is not None and session.scalar(
        select(ClaimExport.id).where(ClaimExport.episode_fk == row.id,
                                     ClaimExport.status == "accepted").limit(1)
    ) is not None:
        raise EpisodeLocked(episode.ma_lk)
    if row is None:
        row = ClaimEpisode(ma_lk=episode.ma_lk)
        session.add(row)
    else:
        session.execute(delete(ClaimRow).where(ClaimRow.episode_fk == row.id))
        session.expire(row, ["rows"])
    row.ma_cskcb = x1.get("MA_CSKCB", "")
    row.ma_loai_kcb = x1.get("MA_LOAI_KCB", "")
    row.ma_doituong_kcb = x1.get("MA_DOITUONG_KCB", "")
    row.ngay_vao, row.ngay_ra = x1.get("NGAY_VAO", ""), x1.get("NGAY_RA", "")
    row.closed_on = episode.end_of_care
    row.t_tongchi_bv = episode.total("T_TONGCHI_BV")
    row.t_bhtt = episode.total("T_BHTT")
    row.record_digest = episode.digest()
    row.source = source
    row.updated_at = utcnow()
    session.flush()
    for name in CLAIM_TABLE_NAMES:
        for i, r in enumerate(episode.rows(name)):
            accession = episode.accession_numbers.get(i, "") if name == "XML3" else ""
            session.add(ClaimRow(episode_fk=row.id, table_name=name, row_index=i,
                                 fields_json=json.dumps(r, ensure_ascii=False),
                                 accession_number=accession))
    session.flush()
    return row


def to_record(row: ClaimEpisode) -> EpisodeRecord:
    """The EpisodeRecord of a stored episode (its rows must be loaded)."""
    return _record(sorted(((r.table_name, r.row_index, r.fields_json, r.accession_number)
                           for r in row.rows), key=lambda x: (x[0], x[1])))


def _record(rows: Iterable[tuple[str, int, str, str]]) -> EpisodeRecord:
    """EpisodeRecord from (table, row index, fields JSON, accession) sorted by table, index."""
    tables: dict[str, list[dict[str, str]]] = {}
    accession: dict[int, str] = {}
    for table_name, row_index, fields_json, accession_number in rows:
        tables.setdefault(table_name, []).append(json.loads(fields_json))
        if accession_number:
            accession[row_index] = accession_number
    return EpisodeRecord(tables, accession)


def load_records(session: Session, ids: Sequence[int]) -> dict[int, EpisodeRecord]:
    """Episode id → EpisodeRecord, read with one statement and no ORM objects per row (the
    daily export reads every row of the day)."""
    found = session.execute(
        select(ClaimRow.episode_fk, ClaimRow.table_name, ClaimRow.row_index,
               ClaimRow.fields_json, ClaimRow.accession_number)
        .where(ClaimRow.episode_fk.in_(ids))
        .order_by(ClaimRow.episode_fk, ClaimRow.table_name, ClaimRow.row_index)).all()
    return {episode_id: _record((r[1], r[2], r[3], r[4]) for r in rows)
            for episode_id, rows in itertools.groupby(found, key=lambda r: r[0])}


def load_episodes(session: Session, ids: Sequence[int], *, rows: bool = True
                  ) -> list[ClaimEpisode]:
    """Episodes by id with their exports (and rows unless ``rows=False``), in id order."""
    options = [selectinload(ClaimEpisode.exports)]
    if rows:
        options.append(selectinload(ClaimEpisode.rows))
    return list(session.scalars(
        select(ClaimEpisode).where(ClaimEpisode.id.in_(ids)).options(*options)
        .order_by(ClaimEpisode.id)
    ).all())
