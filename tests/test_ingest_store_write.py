"""The ingest write path gives the same KPI fact counts and device state on both backends.

PostgreSQL derives device state and the KPI fact grains in SQL; SQLite in Python
(ioc.store.write, ioc.store.kpi_state). Both must agree row for row.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.loadgen import make_events
from ioc import kpi
from ioc.facts import local_day, local_midnight
from ioc.store import open_store

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 20, 23, 50, tzinfo=UTC)  # batches straddle an hour and a UTC day


METRICS = (*kpi.INCIDENT_KINDS, kpi.ARRIVAL_METRIC, kpi.ON_TIME_METRIC, kpi.TRIP_METRIC)


def _snapshot(store) -> tuple:
    # Hour windows read the hourly grains, whole local days the daily ones.
    hours = (kpi.floor_hour(T0) - timedelta(hours=1), kpi.floor_hour(T0) + timedelta(hours=2))
    day = local_day(T0 + timedelta(minutes=20))
    days = (local_midnight(day), local_midnight(day + timedelta(days=1)))
    hourly = sorted((r["bucket"], r["metric"], r["n"])
                    for r in store.kpi_count_series(METRICS, *hours, "hour"))  # fmt: skip
    hourly_ward = sorted((r["unit"], r["metric"], r["n"])
                         for r in store.kpi_counts(METRICS, *hours, group="ward"))  # fmt: skip
    daily = sorted((r["bucket"], r["metric"], r["n"])
                   for r in store.kpi_count_series(METRICS, *days, "day"))  # fmt: skip
    daily_ward = sorted((r["unit"], r["metric"], r["n"])
                        for r in store.kpi_counts(METRICS, *days, group="ward"))  # fmt: skip
    devices = sorted(
        (d.source, d.province, d.ward, d.domain, d.lat, d.lon, d.last_ts, d.last_kind,
         d.last_severity, d.last_event_id, d.last_attrs)
        for d in store.devices()
    )  # fmt: skip
    return hourly, hourly_ward, daily, daily_ward, devices


def test_kpi_facts_and_device_state_match_across_backends(sqlite_url, pg_url):
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
        results[store.backend] = (
            _snapshot(store),
            [(r.inserted, r.duplicates) for r in counts],
            store.count_events(),
        )
        store.close()
    sqlite, postgres = results["sqlite"], results["postgres"]
    assert sqlite[2] == postgres[2] == 3000
    assert sqlite[1] == postgres[1]
    names = ("hourly", "hourly by ward", "daily", "daily by ward", "devices")
    for name, a, b in zip(names, sqlite[0], postgres[0], strict=True):
        assert a == b, f"{name} KPI state differs between backends"
    expected = Counter(m for e in events for m in kpi.kpi_facts(e))
    assert sum(expected.values()) > 0
    for grain in postgres[0][:4]:
        got = Counter()
        for _, metric, n in grain:
            if metric != kpi.TRIP_METRIC:
                got[metric] += n
        assert got == expected, "each stored event's KPI facts are counted once"
    assert len({row[0] for row in postgres[0][0]}) == 2, "the batches straddle two hours"
