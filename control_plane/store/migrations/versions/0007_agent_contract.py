"""one agent contract: the answer length is an agent field; nested settings normalised

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Agents' `turn_detection`, `privacy` and `custom_responses` are rewritten as the agent contract
reads them (every key present, with the contract's default where the row had none), so a row
holds what its calls run. A row the contract refuses is left as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pydantic import BaseModel, ValidationError

from agent.contract import CustomResponses, Privacy, TurnDetection

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NESTED: dict[str, type[BaseModel]] = {
    "turn_detection": TurnDetection,
    "privacy": Privacy,
    "custom_responses": CustomResponses,
}


def upgrade() -> None:
    op.add_column(
        "voice_agents",
        sa.Column(
            "max_completion_tokens", sa.Integer(), nullable=False, server_default=sa.text("80")
        ),
    )
    agents = sa.table(
        "voice_agents", sa.column("id", sa.Uuid()), *(sa.column(n, sa.JSON()) for n in NESTED)
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(agents)).mappings().all():
        values = {}
        for name, model in NESTED.items():
            try:
                values[name] = model.model_validate(row[name] or {}, strict=False).model_dump(
                    mode="json"
                )
            except ValidationError:
                continue
        if values:
            bind.execute(sa.update(agents).where(agents.c.id == row["id"]).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("voice_agents") as batch:
        batch.drop_column("max_completion_tokens")
