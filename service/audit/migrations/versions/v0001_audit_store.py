"""The audit store: records, decisions, annotations, samples, holds, purges, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

_TIME = sa.DateTime(timezone=True)


def _id(*, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=primary_key)


def upgrade() -> None:
    op.create_table(
        "explanation_records",
        _id(primary_key=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("output_space", sa.String(16), nullable=False),
        sa.Column("n_instances", sa.Integer, nullable=False),
        sa.Column("quality_failed", sa.Boolean, nullable=False),
        sa.Column("proxy_flag", sa.Boolean, nullable=False),
        sa.Column("review_required", sa.Boolean, nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("sealed", sa.Text, nullable=True),
    )
    op.create_index("ix_records_created", "explanation_records", ["created_at", "id"])
    op.create_index(
        "ix_records_model", "explanation_records", ["model_name", "model_version", "created_at"]
    )
    for column in ("caller", "method", "quality_failed", "proxy_flag"):
        op.create_index(f"ix_explanation_records_{column}", "explanation_records", [column])

    op.create_table(
        "decisions",
        sa.Column(
            "record_id",
            sa.String(32),
            sa.ForeignKey("explanation_records.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("outcome", sa.String(128), nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("margin", sa.Float, nullable=True),
        sa.Column("confidence_bucket", sa.String(32), nullable=True),
        sa.Column("quality_failed", sa.Boolean, nullable=False),
        sa.Column("proxy_flag", sa.Boolean, nullable=False),
        sa.Column("review_required", sa.Boolean, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
    )
    op.create_index("ix_decisions_outcome", "decisions", ["outcome"])

    op.create_table(
        "annotations",
        _id(primary_key=True),
        sa.Column(
            "record_id",
            sa.String(32),
            sa.ForeignKey("explanation_records.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column(
            "supersedes",
            sa.String(32),
            sa.ForeignKey("annotations.id", ondelete="CASCADE"),
            nullable=True,
            unique=True,
        ),
        sa.Column(
            "signs_off",
            sa.String(32),
            sa.ForeignKey("annotations.id", ondelete="CASCADE"),
            nullable=True,
            unique=True,
        ),
    )
    op.create_index("ix_annotations_record_id", "annotations", ["record_id"])

    op.create_table(
        "samples",
        _id(primary_key=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("frame_size", sa.Integer, nullable=False),
        sa.Column("frame_sha256", sa.String(64), nullable=False),
        sa.Column("items_sha256", sa.String(64), nullable=False),
    )
    op.create_table(
        "sample_items",
        sa.Column(
            "sample_id",
            sa.String(32),
            sa.ForeignKey("samples.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column(
            "record_id",
            sa.String(32),
            sa.ForeignKey("explanation_records.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("part", sa.String(16), nullable=False),
        sa.Column("stratum", sa.JSON, nullable=False),
        sa.Column("risk", sa.JSON, nullable=False),
    )
    op.create_index("ix_sample_items_record_id", "sample_items", ["record_id"])

    op.create_table(
        "legal_holds",
        _id(primary_key=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column(
            "record_id", sa.String(32), sa.ForeignKey("explanation_records.id"), nullable=True
        ),
        sa.Column("model_name", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("released_at", _TIME, nullable=True),
        sa.Column("released_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_legal_holds_record_id", "legal_holds", ["record_id"])
    op.create_index("ix_legal_holds_model_name", "legal_holds", ["model_name"])

    op.create_table(
        "purges",
        _id(primary_key=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("cutoff", _TIME, nullable=False),
        sa.Column("removed_count", sa.Integer, nullable=False),
        sa.Column("held_count", sa.Integer, nullable=False),
        sa.Column("removed", sa.JSON, nullable=False),
    )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "api_keys",
        "purges",
        "legal_holds",
        "sample_items",
        "samples",
        "annotations",
        "decisions",
        "explanation_records",
    ):
        op.drop_table(table)
