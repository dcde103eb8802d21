"""`ioc bench seed --events N`: fill a store with realistic history for the benchmarks.

The events come from the synthetic world's bulk stream (sample_feeds.generator.bulk)
and go through Store.write_batch, the ingest writer's own path (binary COPY on
PostgreSQL), so rollups, KPI state, device state and alarms are exactly what ingest
would keep. Batches hold whole province-days in time order, which keeps the rollup
upserts per batch few. Alarm handling (acknowledge, resolve) is then simulated with
realistic delays and written with Store.record_alarm_handling.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import numpy as np

from ioc.events import Event
from ioc.store import Store
from sample_feeds.generator.bulk import BulkWorld, floor_hour
from sample_feeds.history import simulate_handling

DEFAULT_DAYS = 30
DEFAULT_BATCH = 20_000
DEFAULT_SEED = 7


@dataclass
class SeedReport:
    """What a seed run did."""

    events: int = 0
    inserted: int = 0
    duplicates: int = 0
    alarms_opened: int = 0
    alarms_handled: int = 0
    batches: int = 0
    seconds: float = 0.0
    since: str = ""
    until: str = ""
    backend: str = ""

    @property
    def rows_per_s(self) -> float:
        """Inserted events per second of wall time."""
        return self.inserted / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {**self.__dict__, "rows_per_s": round(self.rows_per_s)}


def seed_store(
    store: Store,
    events: int,
    *,
    days: int = DEFAULT_DAYS,
    end: datetime | None = None,
    seed: int = DEFAULT_SEED,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[SeedReport], None] | None = None,
) -> SeedReport:
    """Fill a migrated store with `events` events over `days` days ending at `end` (default: now)."""
    if events < 0 or days < 1:
        raise ValueError("events must be >= 0 and days >= 1")
    t0 = time.perf_counter()
    until = floor_hour(end or datetime.now(UTC))
    world = BulkWorld(events, until - timedelta(days=days), until, seed)
    handling_rng = np.random.default_rng(seed + 1)
    report = SeedReport(
        since=world.start.isoformat(), until=world.end.isoformat(), backend=store.backend
    )
    pending: list[Event] = []
    handled: set[int] = set()

    def flush() -> None:
        if not pending:
            return
        result = store.write_batch(pending)
        report.events += len(pending)
        report.inserted += result.inserted
        report.duplicates += result.duplicates
        report.alarms_opened += result.alarms_opened
        report.batches += 1
        pending.clear()
        if result.alarms_opened:
            fresh = [
                a for a in store.alarms(states=("open",), limit=1_000_000) if a.id not in handled
            ]
            todo = simulate_handling(fresh, world.fleets, world.end, handling_rng)
            handled.update(a.id for a in fresh)
            report.alarms_handled += store.record_alarm_handling(todo)
        report.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(report)

    def produce() -> None:
        # Generating in a second thread overlaps with the writer's waits on the database.
        try:
            for chunk in world.stream(batch):
                batches.put(chunk)
        except BaseException as exc:  # surfaced by the writer
            batches.put(exc)
        batches.put(None)

    batches: queue.Queue[list[Event] | BaseException | None] = queue.Queue(maxsize=2)
    producer = threading.Thread(target=produce, name="seed-producer", daemon=True)
    producer.start()
    while (item := batches.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        pending.extend(item)
        flush()
    producer.join()
    report.seconds = time.perf_counter() - t0
    return report


@click.command("seed")
@click.option(
    "--events",
    "n_events",
    type=click.IntRange(0),
    required=True,
    help="Number of events to generate.",
)
@click.option(
    "--days", default=DEFAULT_DAYS, show_default=True, type=click.IntRange(1),
    help="Days of history, ending at --end.",
)  # fmt: skip
@click.option("--end", help="End of the history (ISO 8601 with zone; default: now).")
@click.option("--seed", "seed", default=DEFAULT_SEED, show_default=True, help="Random seed.")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, help="Events per write_batch.")
@click.option("--db-url", help="Store URL (overrides IOC_DB_URL and the global option).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def bench_seed(
    ctx: click.Context,
    n_events: int,
    days: int,
    end: str | None,
    seed: int,
    batch: int,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Fill a store with N realistic events across all provinces (the ingest write path)."""
    from ioc.cli import Ctx
    from ioc.store import StoreError, open_store

    found = ctx.find_object(Ctx)
    url = db_url or (found.settings.db_url if found else "")
    try:
        end_ts = datetime.fromisoformat(end) if end else None
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {end!r}", param_hint="--end") from None
    if end_ts is not None and end_ts.tzinfo is None:
        raise click.BadParameter(
            "give a time zone, e.g. 2026-11-20T08:00+07:00", param_hint="--end"
        )
    try:
        store = open_store(url, migrate=True)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    last = [0.0]

    def progress(r: SeedReport) -> None:
        if r.seconds - last[0] >= 10 or r.events == n_events:
            last[0] = r.seconds
            print(
                f"  {r.events:>12,} events  {r.rows_per_s:>9,.0f} rows/s  "
                f"{r.alarms_opened:,} alarms",
                file=sys.stderr,
                flush=True,
            )

    try:
        report = seed_store(
            store, n_events, days=days, end=end_ts, seed=seed, batch=batch, progress=progress
        )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        click.echo(
            f"seeded {report.inserted:,} events ({report.duplicates:,} duplicates) into "
            f"{report.backend} in {report.seconds:,.1f} s: {report.rows_per_s:,.0f} rows/s; "
            f"{report.alarms_opened:,} alarms opened, {report.alarms_handled:,} handled; "
            f"{report.since} .. {report.until}"
        )
