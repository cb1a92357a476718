"""provider keys; per-agent STT provider and LLM endpoint

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("masked", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["voice_agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("provider_keys", schema=None) as batch_op:
        batch_op.create_index("ix_provider_keys_company_id", ["company_id"], unique=False)
        batch_op.create_index("ix_provider_keys_agent_id", ["agent_id"], unique=False)
    with op.batch_alter_table("voice_agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("llm_base_url", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("stt_provider", sa.String(length=32), nullable=False, server_default="local")
        )
        batch_op.add_column(sa.Column("stt_model", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("voice_agents", schema=None) as batch_op:
        batch_op.drop_column("stt_model")
        batch_op.drop_column("stt_provider")
        batch_op.drop_column("llm_base_url")
    with op.batch_alter_table("provider_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_keys_agent_id")
        batch_op.drop_index("ix_provider_keys_company_id")
    op.drop_table("provider_keys")
