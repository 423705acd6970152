"""Whether a workout was done indoors (treadmill, trainer, rowing ergometer), as the
client said; null when it did not. It chooses the Compendium rows its calories were
estimated by (docs/domain.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workouts") as batch:
        batch.add_column(sa.Column("indoor", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workouts") as batch:
        batch.drop_column("indoor")
