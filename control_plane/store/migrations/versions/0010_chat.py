"""text chats: a conversation's channel, its chat session id, title and context

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column(
                "channel", sa.String(length=16), nullable=False, server_default=sa.text("'voice'")
            )
        )
        batch.add_column(sa.Column("session_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("title", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
        batch.create_index(
            "ix_conversations_company_session", ["company_id", "session_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_company_session")
        batch.drop_column("context")
        batch.drop_column("title")
        batch.drop_column("session_id")
        batch.drop_column("channel")
