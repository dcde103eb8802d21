"""`ioc bench storage --events N`: bytes on disk per stored event, for each backend.

Seeds N events of the synthetic world into an empty store through the ingest write path
(bench.seed), then reads the size of the events table and of its indexes from the
database itself (SQLite dbstat; TimescaleDB hypertable_detailed_size).
"""

from __future__ import annotations

import json

import click

from bench.seed import seed_store


@click.command("storage")
@click.option("--events", "n_events", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--days", type=click.IntRange(1), default=7, show_default=True)
@click.option("--db-url", required=True, help="An empty store (sqlite:///... or postgresql://...).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_storage(n_events: int, days: int, db_url: str, as_json: bool) -> None:
    """Seed N events into an empty store and print bytes per event of table and indexes."""
    from ioc.store import StoreError, open_store

    try:
        store = open_store(db_url, migrate=True)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        if store.count_events():
            raise click.ClickException(f"{db_url} already holds events; give an empty store")
        seed_store(store, n_events, days=days)
        size = store.events_storage()
    finally:
        store.close()
    rows = size["rows"] or 1
    out = {
        "backend": store.backend,
        **size,
        "bytes_per_event": round(size["total_bytes"] / rows, 1),
        "table_bytes_per_event": round(size["table_bytes"] / rows, 1),
        "index_bytes_per_event": round(size["index_bytes"] / rows, 1),
    }
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(
        f"{out['backend']}: {size['rows']:,} events, {size['total_bytes'] / 1e6:,.1f} MB: "
        f"{out['bytes_per_event']} B/event ({out['table_bytes_per_event']} table + "
        f"{out['index_bytes_per_event']} indexes)"
    )
