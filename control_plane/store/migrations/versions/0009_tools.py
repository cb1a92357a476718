"""agents' tools, tool settings and assigned MCP tools; calls' tool uses; MCP servers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voice_agents") as batch:
        batch.add_column(
            sa.Column("tools", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(
            sa.Column("tool_settings", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(
            sa.Column("assigned_tools", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("tools_used", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("transport", sa.String(length=32), nullable=False),
        sa.Column("headers_ciphertext", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("tools", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mcp_servers", schema=None) as batch_op:
        batch_op.create_index("ix_mcp_servers_company_id", ["company_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mcp_servers", schema=None) as batch_op:
        batch_op.drop_index("ix_mcp_servers_company_id")
    op.drop_table("mcp_servers")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("tools_used")
    with op.batch_alter_table("voice_agents") as batch:
        batch.drop_column("assigned_tools")
        batch.drop_column("tool_settings")
        batch.drop_column("tools")
