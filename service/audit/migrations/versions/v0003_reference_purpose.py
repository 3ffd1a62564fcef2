"""Records carry a business ``reference`` and a ``purpose`` (decision or preview).

Existing records keep their history: they are decisions without a reference (the
column default), exactly what they were taken as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


# Plain ALTER TABLE on both databases, never SQLite's batch "copy and move": recreating
# explanation_records would cascade-delete its decisions and annotations.


def upgrade() -> None:
    op.add_column("explanation_records", sa.Column("reference", sa.String(200), nullable=True))
    op.add_column(
        "explanation_records",
        sa.Column("purpose", sa.String(16), nullable=False, server_default=sa.text("'decision'")),
    )
    op.create_index("ix_explanation_records_reference", "explanation_records", ["reference"])
    op.create_index("ix_explanation_records_purpose", "explanation_records", ["purpose"])


def downgrade() -> None:
    op.drop_index("ix_explanation_records_purpose", "explanation_records")
    op.drop_index("ix_explanation_records_reference", "explanation_records")
    op.drop_column("explanation_records", "purpose")  # SQLite 3.35+ drops columns in place
    op.drop_column("explanation_records", "reference")
