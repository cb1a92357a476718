"""agents' custom responses (farewell, reprompt) and maximum call duration

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "voice_agents",
        sa.Column("custom_responses", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column(
        "voice_agents",
        sa.Column(
            "max_duration_seconds", sa.Float(), nullable=False, server_default=sa.text("1800")
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("voice_agents") as batch:
        batch.drop_column("max_duration_seconds")
        batch.drop_column("custom_responses")
