"""The ingest write path gives the same rollups and device state on both backends.

PostgreSQL derives rollups and device state in SQL, in the statement that inserts
the events; SQLite in Python (ioc.store.base). Both must agree row for row.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from bench.loadgen import make_events
from ioc.store import open_store

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 20, 23, 50, tzinfo=UTC)  # batches straddle an hour and a UTC day


def _snapshot(store) -> tuple:
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=1)
    hourly = sorted((r.bucket, r.province, r.kind, r.n, r.n_high)
                    for r in store.hourly_counts(since, until))  # fmt: skip
    # SQLite returns the day as a midnight datetime, PostgreSQL as a date: compare days.
    daily = sorted(
        (
            r.bucket.date() if isinstance(r.bucket, datetime) else r.bucket,
            r.province,
            r.ward,
            r.kind,
            r.n,
            r.n_high,
        )
        for r in store.daily_ward_counts(date(2026, 11, 19), date(2026, 11, 23))
    )
    devices = sorted(
        (d.source, d.province, d.ward, d.domain, d.lat, d.lon, d.last_ts, d.last_kind,
         d.last_severity, d.last_event_id, d.last_attrs)
        for d in store.devices()
    )  # fmt: skip
    return hourly, daily, devices


def test_rollups_and_device_state_match_across_backends(sqlite_url, pg_url):
    events = make_events(3000, run_id="same", now=T0 + timedelta(minutes=20),
                         window=timedelta(minutes=40), seed=3)  # fmt: skip
    rnd = random.Random(4)
    batches = [events[i : i + 400] for i in range(0, len(events), 400)]
    # Redeliveries: some events again in later batches, and duplicates inside a batch.
    batches[3] = batches[3] + rnd.sample(events[:1200], 150) + batches[3][:20]
    batches.append(rnd.sample(events, 500))
    results = {}
    for url in (sqlite_url, pg_url):
        store = open_store(url, migrate=True)
        counts = [store.write_batch(b) for b in batches]
        results[store.dialect] = (
            _snapshot(store),
            [(r.inserted, r.duplicates) for r in counts],
            store.count_events(),
        )
        store.close()
    sqlite, postgres = results["sqlite"], results["postgres"]
    assert sqlite[2] == postgres[2] == 3000
    assert sqlite[1] == postgres[1]
    for name, a, b in zip(("hourly", "daily", "devices"), sqlite[0], postgres[0], strict=True):
        assert a == b, f"{name} rollups differ between backends"
    hourly = postgres[0][0]
    assert sum(row[3] for row in hourly) == 3000
    assert len({row[0] for row in hourly}) == 2, "the batches straddle two hours"
