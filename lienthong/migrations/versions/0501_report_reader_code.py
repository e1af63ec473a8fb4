"""reports: the signing reader's practising-certificate code, fixed at signing

Revision ID: 0501_report_reader_code
Revises: 0500_reports
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0501_report_reader_code"
down_revision: str | Sequence[str] | None = "0500_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report") as batch:
        batch.add_column(sa.Column("reader_practice_code", sa.String(30), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("report") as batch:
        batch.drop_column("reader_practice_code")
