"""Alembic revisions of the audit store (a package so that installs ship them)."""
