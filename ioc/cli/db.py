"""`ioc db`: create, migrate and inspect the store."""

from __future__ import annotations

import json

import click

from ioc.cli.context import Ctx, open_store_of, pass_ctx


@click.group()
def db() -> None:
    """Create, migrate and inspect the store."""


@db.command("init")
@pass_ctx
def db_init(ctx: Ctx) -> None:
    """Create the schema (same as migrate on an empty store)."""
    _migrate(ctx)


@db.command("migrate")
@pass_ctx
def db_migrate(ctx: Ctx) -> None:
    """Apply pending migrations."""
    _migrate(ctx)


def _migrate(ctx: Ctx) -> None:
    from ioc.store import StoreError

    store = open_store_of(ctx)
    try:
        applied = store.migrate()
        version = store.schema_version()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if applied:
        click.echo(
            f"applied migrations {', '.join(map(str, applied))}; schema at version {version}"
        )
    else:
        click.echo(f"schema already at version {version}; nothing to do")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def db_status(ctx: Ctx, as_json: bool) -> None:
    """Backend, versions and row counts."""
    from ioc.store import StoreError

    store = open_store_of(ctx)
    try:
        status = store.status()
        if status["schema_version"]:
            status["rows"] = store.table_counts()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False, indent=2, default=str))
        return
    for key, value in status.items():
        if key == "rows":
            click.echo("rows:")
            for table, n in value.items():
                click.echo(f"  {table:<18} {n:>12,}")
        else:
            click.echo(f"{key:<17} {value}")
    if status["schema_version"] < status["latest_migration"]:
        click.echo("schema is behind: run `ioc db migrate`")


@db.command("retention")
@click.option(
    "--apply", "apply", is_flag=True, help="Archive to Parquet, then drop (default: dry run)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def db_retention(ctx: Ctx, apply: bool, as_json: bool) -> None:
    """Show what IOC_RETENTION drops (per kind, rows, days, chunks); --apply drops it."""
    from ioc.archive import ArchiveError
    from ioc.store import StoreError
    from ioc.store.retention import units_by_kind

    settings = ctx.settings
    policy = settings.retention_policy
    store = open_store_of(ctx)
    try:
        if not store.schema_version():
            raise click.ClickException("the store has no schema yet: run `ioc db migrate`")
        if apply:
            report = store.apply_retention(policy, settings.archive_dir)
        else:
            report = store.retention_plan(policy)
    except (StoreError, ArchiveError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"policy {report.policy}")
        verb = "dropped" if apply else "would drop"
        if not report.units:
            click.echo("nothing to drop")
        for kind, k in sorted(units_by_kind(report.units).items()):
            click.echo(
                f"  {kind:<26} {k['rows']:>12,} rows  {k['days']:>4} day(s)  "
                f"{k['first_ts']:%Y-%m-%d %H:%M} .. {k['last_ts']:%Y-%m-%d %H:%M} UTC"
            )
        if report.chunks:
            click.echo(
                f"chunks {verb} whole: {len(report.chunks)} ({', '.join(report.chunks[:3])}"
                f"{', ...' if len(report.chunks) > 3 else ''})"
            )
        if apply:
            click.echo(
                f"dropped {report.dropped:,} rows; archived to {len(report.archived)} file(s) "
                f"under {settings.archive_dir}"
            )
        else:
            click.echo(f"{verb} {report.rows:,} rows; run with --apply to archive and drop them")
    for reason in report.skipped:
        click.echo(f"skipped: {reason}", err=True)
    if report.skipped:
        raise SystemExit(1)
