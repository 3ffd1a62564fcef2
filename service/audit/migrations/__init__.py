"""Alembic migrations of the audit store, run in code at start-up (no alembic.ini).

``upgrade(engine)`` brings a database to the newest revision in one transaction.
On PostgreSQL it first takes a transaction-level advisory lock, so replicas that
start together migrate one after the other instead of racing. To write a new
revision, run Alembic with ``alembic_config(url)`` (see ``versions/``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

__all__ = ["HEAD", "MIGRATIONS_DIR", "alembic_config", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent
HEAD = "0003"
# Any constant works; this one spells "clarion" in ASCII.
_ADVISORY_LOCK = 0x636C6172696F6E


def alembic_config() -> Config:
    """An Alembic Config built in code, pointing at this folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied, in one transaction."""
    cfg = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
