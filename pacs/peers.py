"""Known DICOM peers (remote AE titles): accepted callers and C-MOVE destinations.

The table is read at every association request, so `lienthong ae add/remove` takes effect in a
running server without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lienthong.db import AETitle, Base, Timestamp, utcnow
from lienthong.settings import check_ae_title


class RemoteAE(Base):
    __tablename__ = "remote_ae"

    id: Mapped[int] = mapped_column(primary_key=True)
    ae_title: Mapped[AETitle] = mapped_column(unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Peer:
    ae_title: str
    host: str
    port: int
    description: str


def _peer(row: RemoteAE) -> Peer:
    return Peer(row.ae_title, row.host, row.port, row.description)


def add_peer(session: Session, ae_title: str, host: str, port: int, description: str = "") -> Peer:
    """Register or update a peer. Raises ValueError on a bad title or port."""
    ae_title = check_ae_title(ae_title)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    if not host:
        raise ValueError("host is empty")
    row = session.scalar(select(RemoteAE).where(RemoteAE.ae_title == ae_title))
    if row is None:
        row = RemoteAE(ae_title=ae_title, host=host, port=port, description=description)
        session.add(row)
    else:
        row.host, row.port, row.description = host, port, description
    session.flush()
    return _peer(row)


def remove_peer(session: Session, ae_title: str) -> bool:
    """Forget a peer; returns whether it existed."""
    result = session.execute(delete(RemoteAE).where(RemoteAE.ae_title == ae_title.strip()))
    return bool(getattr(result, "rowcount", 0))


def list_peers(session: Session) -> list[Peer]:
    return [_peer(r) for r in session.scalars(select(RemoteAE).order_by(RemoteAE.ae_title))]


def find_peer(session: Session, ae_title: str) -> Peer | None:
    row = session.scalar(select(RemoteAE).where(RemoteAE.ae_title == ae_title.strip()))
    return None if row is None else _peer(row)


def known_ae_titles(session: Session) -> list[str]:
    return list(session.scalars(select(RemoteAE.ae_title)))
