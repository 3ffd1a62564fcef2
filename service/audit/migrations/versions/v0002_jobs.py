"""Batch explanation jobs: one audit record per job, with its progress.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_TIME = sa.DateTime(timezone=True)
_HASH = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("started_at", _TIME, nullable=True),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("model_sha256", _HASH, nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("output_space", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_partitions", sa.Integer, nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("rows_failed", sa.Integer, nullable=False),
        sa.Column("input_sha256", _HASH, nullable=False),
        sa.Column("result_sha256", _HASH, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("record_sha256", _HASH, nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_model", "jobs", ["model_name", "created_at"])
    op.create_index("ix_jobs_caller", "jobs", ["caller"])
    op.create_index("ix_jobs_status", "jobs", ["status"])


def downgrade() -> None:
    op.drop_table("jobs")
