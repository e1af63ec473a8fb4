"""index: marks of files indexed before the flush that makes them durable

Revision ID: 0502_unflushed_file
Revises: 0501_report_reader_code
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0502_unflushed_file"
down_revision: str | Sequence[str] | None = "0501_report_reader_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unflushed_file",
        sa.Column("file_key", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("unflushed_file")
