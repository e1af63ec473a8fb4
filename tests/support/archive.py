"""Look at a data folder from the outside: index rows, files under objects/, leftovers in tmp/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from lienthong.db import make_engine, make_sessionmaker
from pacs.index.models import Instance, QuarantinedInstance, Series, Study


@dataclass(frozen=True)
class IndexedFile:
    sop_instance_uid: str
    file_key: str
    sha256: str
    series_instance_uid: str
    study_instance_uid: str


@dataclass(frozen=True)
class Snapshot:
    """What the archive holds at one moment."""

    instances: dict[str, IndexedFile]  # by SOP Instance UID
    quarantined: list[tuple[str, str, str]]  # (SOP Instance UID, file key, sha256)
    objects: set[str]  # keys of the files under objects/
    temporary: list[str]  # names under tmp/

    @property
    def indexed_keys(self) -> set[str]:
        return {i.file_key for i in self.instances.values()} | {q[1] for q in self.quarantined}


def database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'index.sqlite3'}"


def object_path(data_dir: Path, key: str) -> Path:
    return data_dir / "objects" / key[:2] / key[2:4] / key


def snapshot(data_dir: Path, url: str | None = None) -> Snapshot:
    engine = make_engine(url or database_url(data_dir))
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(
                    Instance.sop_instance_uid,
                    Instance.file_key,
                    Instance.sha256,
                    Series.series_instance_uid,
                    Study.study_instance_uid,
                )
                .join(Series, Instance.series_fk == Series.id)
                .join(Study, Series.study_fk == Study.id)
            ).all()
            quarantined = session.execute(
                select(
                    QuarantinedInstance.sop_instance_uid,
                    QuarantinedInstance.file_key,
                    QuarantinedInstance.sha256,
                )
            ).all()
    finally:
        engine.dispose()
    objects_dir = data_dir / "objects"
    objects = {p.name for p in objects_dir.glob("*/*/*") if p.is_file()}
    tmp_dir = data_dir / "tmp"
    temporary = sorted(p.name for p in tmp_dir.iterdir()) if tmp_dir.is_dir() else []
    return Snapshot(
        instances={r[0]: IndexedFile(*r) for r in rows},
        quarantined=[(q[0], q[1], q[2]) for q in quarantined],
        objects=objects,
        temporary=temporary,
    )


def register_peers(data_dir: Path, titles: list[str]) -> None:
    """Register calling AE titles in one go (what `lienthong ae add` does, without a process
    per title)."""
    from lienthong.db import writer_engine
    from lienthong.migrate import upgrade
    from pacs.peers import add_peer

    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(data_dir)
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(writer_engine(engine)).begin() as session:
            for title in titles:
                add_peer(session, title, "127.0.0.1", 104)
    finally:
        engine.dispose()
