"""phone calls: the company's phone numbers and the agents that answer them; a call's number,
direction, provider call id, telephony status and transfer target

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Uuid(),
            sa.ForeignKey("companies.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "agent_id",
            sa.Uuid(),
            sa.ForeignKey("voice_agents.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("number", sa.String(length=32), nullable=False, unique=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("phone_number", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("direction", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("provider_call_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("telephony_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("transfer_to", sa.String(length=64), nullable=True))
        batch.create_index("ix_conversations_provider_call_id", ["provider_call_id"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_provider_call_id")
        batch.drop_column("transfer_to")
        batch.drop_column("telephony_status")
        batch.drop_column("provider_call_id")
        batch.drop_column("direction")
        batch.drop_column("phone_number")
    op.drop_table("phone_numbers")
