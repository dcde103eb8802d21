"""Months of synthetic history for every province, written through the store's normal path.

The events come from the one synthetic world at bulk speed (sample_feeds.generator.bulk)
and go through Store.write_batch, the ingest writer's own transaction, so KPI state, device
state and alarms are derived exactly as ingest derives them. Alarms opened in the past are
then handled with realistic delays (acknowledged, resolved) through
Store.record_alarm_handling, as operators would have done. `ioc feeds history` runs it;
`ioc demo` runs that once at first start. A row in the audit log marks a store that already
has its history, so a second run adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ioc.store import Store
from sample_feeds.generator.bulk import BulkWorld, Fleet

HISTORY_ACTOR = "ioc-feeds"
HISTORY_ACTION = "history_generate"
# Alarm handling delays (median seconds) per severity, before the province's own factor.
ACK_MEDIAN = {4: 45, 3: 120, 2: 420, 1: 1200, 0: 2400}
RESOLVE_MEDIAN = {4: 20 * 60, 3: 40 * 60, 2: 2.5 * 3600, 1: 10 * 3600, 0: 16 * 3600}


@dataclass
class HistoryReport:
    """What a history run did (skipped: the store already had its history)."""

    events: int = 0
    inserted: int = 0
    alarms_opened: int = 0
    alarms_handled: int = 0
    seconds: float = 0.0
    since: str = ""
    until: str = ""
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output and the audit row."""
        return dict(self.__dict__)


def simulate_handling(
    alarms: list[Any], fleets: dict[str, Fleet], end: datetime, rng: np.random.Generator
) -> list[tuple[int, datetime | None, datetime | None, str]]:
    """Acknowledge and resolve times for open alarms, slower in some provinces and for low severity.

    Steps that would fall after `end` are left undone: an alarm raised shortly before the
    end of the history is still open or only acknowledged, as it would be live.
    """
    out = []
    for a in alarms:
        f = fleets.get(a.province)
        factor = f.handling if f else 1.0
        ack = a.opened_at + timedelta(
            seconds=float(rng.lognormal(np.log(ACK_MEDIAN[a.severity] * factor), 0.9))
        )
        res = ack + timedelta(
            seconds=float(rng.lognormal(np.log(RESOLVE_MEDIAN[a.severity] * factor), 0.8))
        )
        acked = ack if ack < end else None
        resolved = res if res < end else None
        if acked is not None:
            out.append((a.id, acked, resolved, f"op-{a.province}-{a.id % 5}"))
    return out


def feed_cameras(path: str | Path) -> tuple[str, list[tuple[str, str]]]:
    """(province, [(source, ward)]) of the cameras a feed declares by retained status at its start."""
    from ioc.events import parse_status
    from ioc.geo import geography
    from sample_feeds.feedfile import FeedReader

    reader = FeedReader(path)
    province = str(reader.header.extra.get("province", ""))
    geo = geography()
    out: dict[str, str] = {}
    for line in reader.lines():
        if line.offset > 0:
            break
        if not line.retain or line.obj is None:
            continue
        status = parse_status(line.payload, line.topic)
        if status.domain != "camera" or status.lat is None or status.lon is None:
            continue
        commune = geo.locate(status.lat, status.lon)
        if commune is not None:
            out[status.source] = commune.code
    return province, sorted(out.items())


def history_marker(store: Store) -> dict | None:
    """Details of the run that gave this store its history, or None if it has none."""
    rows = store.audit_entries(actor=HISTORY_ACTOR, action=HISTORY_ACTION, limit=1)
    return rows[0].details if rows else None


def write_history(
    store: Store,
    events: int,
    *,
    days: int,
    end: datetime,
    seed: int = 16,
    batch: int = 20_000,
    cameras: dict[str, list[tuple[str, str]]] | None = None,
    progress: Callable[[HistoryReport], None] | None = None,
) -> HistoryReport:
    """Write `events` events over `days` days ending at `end`, once per store (marker in the audit)."""
    if events < 1 or days < 1:
        raise ValueError("events and days must be >= 1")
    if history_marker(store) is not None:
        return HistoryReport(skipped=True)
    t0 = time.perf_counter()
    until = end.replace(microsecond=0)
    since = until - timedelta(days=days)
    world = BulkWorld(events, since, until, seed, id_prefix=f"hist{seed}", cameras=cameras)
    rng = np.random.default_rng(seed + 1)
    report = HistoryReport(since=world.start.isoformat(), until=world.end.isoformat())
    # Alarms already in the store (a live replay's) are left to the operators.
    handled = {a.id for a in store.alarms(states=("open", "acknowledged"), limit=1_000_000)}
    for chunk in world.stream(batch):
        if not chunk:
            continue
        result = store.write_batch(chunk)
        report.events += len(chunk)
        report.inserted += result.inserted
        report.alarms_opened += result.alarms_opened
        if result.alarms_opened:
            fresh = [
                a for a in store.alarms(states=("open",), limit=1_000_000) if a.id not in handled
            ]
            handled.update(a.id for a in fresh)
            todo = simulate_handling(fresh, world.fleets, world.end, rng)
            report.alarms_handled += store.record_alarm_handling(todo)
        report.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(report)
    report.seconds = time.perf_counter() - t0
    store.append_audit(HISTORY_ACTOR, HISTORY_ACTION, details=report.as_dict())
    return report
