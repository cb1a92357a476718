"""call recordings, ending a call through the API, feedback

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("recording", sa.String(length=80), nullable=True))
    op.add_column(
        "conversations", sa.Column("end_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("conversations", sa.Column("outcome", sa.String(length=64), nullable=True))
    op.add_column("conversations", sa.Column("feedback", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("feedback")
        batch.drop_column("outcome")
        batch.drop_column("end_requested_at")
        batch.drop_column("recording")
