"""Each athlete's token generation: signing out, a password change and deleting the
account raise it, and an access token issued in an older generation is refused
(docs/accounts.md). Existing athletes start at 0, the generation that tokens issued
before this revision (which name none) are taken to have.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, which SQLite does in place: batch mode would copy `users` and drop
    # the old table, which every table that refers to an athlete forbids once it has rows.
    op.add_column(
        "users",
        sa.Column("token_generation", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_generation")
