"""deployments of agents for the chat API, API keys scoped to one, chats that came through one

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Uuid(),
            sa.ForeignKey("companies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "agent_id",
            sa.Uuid(),
            sa.ForeignKey("voice_agents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_deployments_company_id", "deployments", ["company_id"])
    op.create_index("ix_deployments_agent_id", "deployments", ["agent_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("deployment_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_api_keys_deployment_id",
            "deployments",
            ["deployment_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_api_keys_deployment_id", ["deployment_id"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("deployment_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_conversations_deployment_id",
            "deployments",
            ["deployment_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_deployment_id", type_="foreignkey")
        batch.drop_column("deployment_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_deployment_id")
        batch.drop_constraint("fk_api_keys_deployment_id", type_="foreignkey")
        batch.drop_column("deployment_id")
    op.drop_index("ix_deployments_agent_id", table_name="deployments")
    op.drop_index("ix_deployments_company_id", table_name="deployments")
    op.drop_table("deployments")
