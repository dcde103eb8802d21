"""`ioc bench seed`: realistic, deterministic, and its rollups agree with what it stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bench.seed import seed_store
from ioc import kpi
from ioc.events import Event
from ioc.store import open_store
from sample_feeds.generator.bulk import BulkWorld

END = datetime(2026, 11, 20, 10, tzinfo=UTC)
N = 4000


def test_seed_stores_exactly_n_events_and_kpi_state_counts_them(store):
    report = seed_store(store, N, days=30, end=END, batch=1500)
    assert (report.inserted, report.duplicates) == (N, 0)
    assert report.batches >= 3
    assert store.count_events() == N
    assert {d.province for d in store.devices()} == set(store_provinces())
    # The KPI state counts the same incidents as the stored events hold.
    incidents = len(store.find_events(kinds=kpi.INCIDENT_KINDS, limit=N))
    got = store.kpi_counts(kpi.INCIDENT_KINDS, END - timedelta(days=31), END, group="total")
    assert incidents > 0 and sum(r["n"] for r in got) == incidents
    assert report.alarms_opened > 0 and report.alarms_handled > 0


def store_provinces() -> list[str]:
    from ioc.geo import geography

    return list(geography().provinces)


def test_seed_is_deterministic_and_its_events_validate():
    def sample(seed: int) -> list[Event]:
        s = BulkWorld(2000, END - timedelta(days=5), END, seed)
        out: list[Event] = []
        for lo, hi, p, n in s.plan():
            out.extend(s.province_day(s.fleets[p], lo, hi, n, 0.5))
        return out

    a, b = sample(3), sample(3)
    assert [e.model_dump() for e in a] == [e.model_dump() for e in b]
    assert len(a) == 2000
    assert [e.model_dump() for e in a] != [e.model_dump() for e in sample(4)]
    kinds = {e.kind for e in a}
    assert {"transport.position", "security.intrusion", "camera.snapshot"} <= kinds
    for e in a:
        # model_construct skipped validation for speed: every event must still pass it.
        again = Event.model_validate(e.model_dump(mode="json"))
        assert again.model_dump() == e.model_dump(), e.kind
        assert END - timedelta(days=5) <= e.ts < END


@pytest.mark.slow
def test_seed_command_prints_rows_per_second(tmp_path):
    url = f"sqlite:///{tmp_path / 'seed.db'}"

    def bench_seed(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ioc", "bench", "seed", *args, "--db-url", url],
            capture_output=True, text=True, timeout=timeout, env={**os.environ},
        )  # fmt: skip

    r = bench_seed(
        "--events", "1500", "--days", "3", "--end", "2026-11-20T17:00+07:00", "--json", timeout=300
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["inserted"] == 1500 and out["rows_per_s"] > 0
    assert out["until"] == "2026-11-20T10:00:00+00:00"
    store = open_store(url)
    try:
        assert store.count_events() == 1500
    finally:
        store.close()
    bad = bench_seed("--events", "10", "--end", "yesterday", timeout=120)
    assert bad.returncode != 0 and "ISO 8601" in bad.stderr
