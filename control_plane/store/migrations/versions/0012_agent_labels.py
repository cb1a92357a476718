"""voice agents' industry (a label to filter by), personality (added to the instructions) and
voice pitch; API keys' rate limits (a tier or a limit of their own)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_agents") as batch:
        batch.add_column(sa.Column("industry", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("personality", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column(
                "voice_pitch",
                sa.String(length=8),
                nullable=False,
                server_default=sa.text("'medium'"),
            )
        )

    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("rate_limit", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_limit")
    with op.batch_alter_table("voice_agents") as batch:
        batch.drop_column("voice_pitch")
        batch.drop_column("personality")
        batch.drop_column("industry")
