"""``clarion audit ...`` and ``clarion keys ...``: the operator's side of the audit trail.

They open the same store as the service (``CLARION_DATABASE_URL``), so they work
against a running deployment's database. A store that cannot be opened (a bad URL,
a missing folder, no store at all for ``verify``) is one line and exit code 2; an
error while working is one line and exit code 1.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["audit_app", "keys_app", "operator"]

audit_app = typer.Typer(
    help="The audit store: retention purge, legal holds, consistency, encryption keys.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
keys_app = typer.Typer(
    help="API keys (stored hashed; each shown once).", no_args_is_help=True, rich_markup_mode=None
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Audit store URL [default: env CLARION_DATABASE_URL, else ./data/clarion.db].",
    ),
]


def operator() -> str:
    """The caller id of a command-line operator, as audit rows record it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"[:64]


class _CannotOpen(Exception):
    """The store (or the settings that name it) cannot be used: exit code 2."""


def _settings(database_url: str | None) -> Any:
    from service.settings import SettingsError, load_settings

    try:
        return load_settings(database_url=database_url)
    except SettingsError as exc:
        raise _CannotOpen(f"invalid setting: {exc}") from exc


def _trail(database_url: str | None) -> Any:
    from service.audit import AuditTrail
    from service.errors import ClarionError
    from service.logs import configure_logging

    configure_logging("info")
    settings = _settings(database_url)
    try:
        return AuditTrail.open(settings)
    except ClarionError as exc:
        raise _CannotOpen(exc.message) from exc


def _bundle_names(models_dir: Path) -> set[str]:
    """Model names a service on ``models_dir`` would serve (its bundles' folders)."""
    if not models_dir.is_dir():
        return set()
    return {p.name for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _run(action: Any) -> None:
    from service.errors import ClarionError

    try:
        action()
    except _CannotOpen as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ClarionError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@audit_app.command("purge")
def purge(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Age of the records to remove: a number and d, w, m (calendar months) or y; "
            "e.g. 25m (Regulation B's 25 months), 400d, 7y.",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove records older than a retention period, except those under a legal hold.

    Decisions, annotations and sample items of removed records go with them, in one
    transaction; the ids removed are logged and kept in the purges table.
    """
    from service.audit.retention import purge as run_purge

    def action() -> None:
        trail = _trail(database_url)
        try:
            from service.jobs.files import JobFiles

            files = JobFiles(_settings(database_url).jobs_dir)
            result = run_purge(
                trail.store,
                older_than=older_than,
                actor=operator(),
                dry_run=dry_run,
                remove_job_files=files.remove,
            )
        finally:
            trail.close()
        verb = "would remove" if dry_run else "removed"
        typer.echo(
            f"{verb} {len(result.removed)} record(s) and {len(result.jobs_removed)} job(s) "
            f"created before {result.cutoff.isoformat()}; kept "
            f"{len(result.held) + len(result.jobs_held)} under legal hold"
        )

    _run(action)


@audit_app.command("hold")
def hold(
    reason: Annotated[str, typer.Option("--reason", help="Why (a case or matter reference).")],
    record: Annotated[str | None, typer.Option("--record", help="One record id.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Every record of a model.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Place a legal hold on one record or on a whole model (the API: POST .../hold).

    A model must have records or a bundle in the models folder (CLARION_MODELS_DIR).
    """
    from service.audit.retention import place_hold

    def action() -> None:
        served = _bundle_names(_settings(database_url).models_dir)
        trail = _trail(database_url)
        try:
            placed = place_hold(
                trail.store,
                record_id=record,
                model_name=model,
                reason=reason,
                created_by=operator(),
                served=served,
            )
        finally:
            trail.close()
        typer.echo(f"hold {placed.id} placed")

    _run(action)


@audit_app.command("release")
def release(
    hold_id: Annotated[str, typer.Argument(help="The hold's id.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Release a legal hold."""
    from service.audit.retention import release_hold

    def action() -> None:
        trail = _trail(database_url)
        try:
            release_hold(trail.store, hold_id, released_by=operator())
        finally:
            trail.close()
        typer.echo(f"hold {hold_id} released")

    _run(action)


@audit_app.command("verify")
def verify(database_url: DatabaseUrl = None) -> None:
    """Check the store: database integrity, record hashes, decisions, annotations.

    The store is opened read-only and must exist: a mistyped URL is an error (exit 2).
    """
    from service.audit.store import AuditStore
    from service.errors import ClarionError
    from service.logs import configure_logging

    def action() -> None:
        configure_logging("info")
        settings = _settings(database_url)
        try:
            store = AuditStore.open(settings.database_url, read_only=True)
        except ClarionError as exc:
            raise _CannotOpen(exc.message) from exc
        try:
            problems, count = store.verify(), store.count()
        finally:
            store.close()
        for problem in problems:
            typer.echo(problem, err=True)
        if problems:
            raise typer.Exit(1)
        typer.echo(f"consistent: {count} record(s)")

    _run(action)


@audit_app.command("new-encryption-key")
def new_encryption_key() -> None:
    """Print a fresh key for CLARION_AUDIT_ENCRYPTION_KEY (keep it in a secret store)."""
    from service.audit.crypto import new_key

    typer.echo(new_key())


@audit_app.command("rotate-key")
def rotate_key(database_url: DatabaseUrl = None) -> None:
    """Re-seal every record's sensitive values under a new encryption key.

    Stop the service first. With CLARION_AUDIT_ENCRYPTION_KEY set, the new key is printed
    once: set it in place of the old one before starting again. Without it, the key file in
    CLARION_DATA_DIR is replaced. Record hashes do not change.
    """
    from pydantic import SecretStr

    from service.audit.crypto import new_key
    from service.audit.keyfile import key_file, replace_file, rotate

    def action() -> None:
        settings = _settings(database_url)
        trail = _trail(database_url)
        try:
            source = trail.key_source
            if source is None:
                raise _CannotOpen("sensitive values are omitted by policy: no key to rotate")
            new = SecretStr(new_key())
            path = key_file(settings.data_dir) if source.origin != "settings" else None
            if path is not None:
                # The new key is on disk before any record needs it.
                staged = path.with_name(path.name + ".next")
                replace_file(staged, new)
            done = rotate(trail.store, source.key, new)
            if path is not None:
                staged.replace(path)
        finally:
            trail.close()
        typer.echo(
            json.dumps(
                {
                    "resealed": done.resealed,
                    "already_new": done.skipped,
                    "old_key_id": done.old_key_id,
                    "new_key_id": done.new_key_id,
                    "key_file": str(path) if path is not None else None,
                }
            )
        )
        if path is None:
            typer.echo("set CLARION_AUDIT_ENCRYPTION_KEY to this new key (shown once):", err=True)
            typer.echo(new.get_secret_value())

    _run(action)


@keys_app.command("create")
def create_key(
    role: Annotated[str, typer.Option("--role", help="app, reviewer or admin.")],
    name: Annotated[str | None, typer.Option("--name", help="What the key is for.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    if role not in ("app", "reviewer", "admin"):
        typer.echo(f"error: --role must be app, reviewer or admin; got {role!r}", err=True)
        raise typer.Exit(2)

    def action() -> None:
        trail = _trail(database_url)
        try:
            row, key = trail.keys.create(role, created_by=operator(), name=name)
        finally:
            trail.close()
        typer.echo(json.dumps({"id": row.id, "role": row.role, "key": key}))

    _run(action)


@keys_app.command("list")
def list_keys(database_url: DatabaseUrl = None) -> None:
    """List key ids, roles and states (never the keys)."""

    def action() -> None:
        trail = _trail(database_url)
        try:
            rows = trail.keys.list()
        finally:
            trail.close()
        for r in rows:
            state = f"revoked {r.revoked_at.isoformat()}" if r.revoked_at else "active"
            typer.echo(f"{r.id}\t{r.role}\t{state}\t{r.name or ''}")

    _run(action)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key; it gets 401 from then on."""

    def action() -> None:
        trail = _trail(database_url)
        try:
            trail.keys.revoke(key_id, revoked_by=operator())
        finally:
            trail.close()
        typer.echo(f"key {key_id} revoked")

    _run(action)
