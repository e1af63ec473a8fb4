"""orders: storage commitment claims carry their reporter and time (lease, no duplicate reports)

Revision ID: 0401_commitment_claims
Revises: 0400_orders
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0401_commitment_claims"
down_revision: str | Sequence[str] | None = "0400_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("commitment_request") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(100), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commitment_request") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
