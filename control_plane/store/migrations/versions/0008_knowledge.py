"""knowledge base: items (text, URL, document) and their embedded passages

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_agents") as batch:
        batch.add_column(
            sa.Column("knowledge", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    op.create_table(
        "knowledge_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("refresh_interval", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("source", sa.LargeBinary(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("chunks_count", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_refresh_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["voice_agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("knowledge_items", schema=None) as batch_op:
        batch_op.create_index("ix_knowledge_items_company_id", ["company_id"], unique=False)
        batch_op.create_index("ix_knowledge_items_agent_id", ["agent_id"], unique=False)
        batch_op.create_index("ix_knowledge_items_status", ["status"], unique=False)
        batch_op.create_index(
            "ix_knowledge_items_next_refresh_at", ["next_refresh_at"], unique=False
        )
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["voice_agents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["knowledge_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_knowledge_chunks_company_id", ["company_id"], unique=False)
        batch_op.create_index("ix_knowledge_chunks_agent_id", ["agent_id"], unique=False)
        batch_op.create_index("ix_knowledge_chunks_item_id", ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_chunks_item_id")
        batch_op.drop_index("ix_knowledge_chunks_agent_id")
        batch_op.drop_index("ix_knowledge_chunks_company_id")
    op.drop_table("knowledge_chunks")
    with op.batch_alter_table("knowledge_items", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_items_next_refresh_at")
        batch_op.drop_index("ix_knowledge_items_status")
        batch_op.drop_index("ix_knowledge_items_agent_id")
        batch_op.drop_index("ix_knowledge_items_company_id")
    op.drop_table("knowledge_items")
    with op.batch_alter_table("voice_agents") as batch:
        batch.drop_column("knowledge")
