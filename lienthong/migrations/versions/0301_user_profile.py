"""auth: the person behind an account (name printed on reports, practising-certificate code)

Revision ID: 0301_user_profile
Revises: 0300_auth
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0301_user_profile"
down_revision: str | Sequence[str] | None = "0300_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_user") as batch:
        batch.add_column(sa.Column("display_name", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("practice_code", sa.String(30), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("auth_user") as batch:
        batch.drop_column("practice_code")
        batch.drop_column("display_name")
