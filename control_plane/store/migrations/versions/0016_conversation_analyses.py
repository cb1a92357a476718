"""agents' analysis settings; conversation analyses

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_agents") as batch:
        batch.add_column(
            sa.Column("analysis", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    op.create_table(
        "conversation_analyses",
        sa.Column(
            "conversation_id",
            sa.String(length=64),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "company_id",
            sa.Uuid(),
            sa.ForeignKey("companies.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False, index=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("sentiment_score", sa.Float(), nullable=True),
        sa.Column("sentiment", sa.String(length=16), nullable=True, index=True),
        sa.Column("message_sentiments", sa.JSON(), nullable=True),
        sa.Column("intents", sa.JSON(), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True, index=True),
        sa.Column("data_collected", sa.JSON(), nullable=True),
        sa.Column("criteria", sa.JSON(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("conversation_analyses")
    with op.batch_alter_table("voice_agents") as batch:
        batch.drop_column("analysis")
