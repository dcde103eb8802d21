"""`ioc feeds history`: months of history for every province, through the write path, once."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

from dash_support import ev

from ioc import kpi
from ioc.kpi import CAMERA_DOMAINS
from ioc.store import open_store
from sample_feeds.history import feed_cameras, history_marker

END = "2026-11-20T07:00+07:00"
N = 6000


def _history(url: str, tmp_path, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "ioc", "--db-url", url, "--data-dir", str(tmp_path)]
        + ["feeds", "history", "--events", str(N), "--days", "30", "--end", END, "--json"]
        + list(extra),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout)


def test_history_gives_every_province_kpis_and_a_second_run_adds_nothing(store_url, tmp_path):
    url = store_url  # a temporary SQLite file, then a fresh TimescaleDB database
    store = open_store(url, migrate=True)
    try:  # a live alarm already there (a replay's): the history leaves it to the operators
        fire = ev("security.fire", source="cam-live", severity=4, attrs={"confidence": 0.9},
                  ts=datetime(2026, 11, 19, 23, 30, tzinfo=UTC))  # fmt: skip
        assert store.write_batch([fire]).alarms_opened == 1
        live = store.alarms(states=("open",))[0].id
    finally:
        store.close()
    first = _history(url, tmp_path)
    assert not first["skipped"] and first["inserted"] == N
    assert first["until"] == "2026-11-20T00:00:00+00:00"
    assert first["alarms_opened"] > 0 and 0 < first["alarms_handled"] <= first["alarms_opened"]
    store = open_store(url)
    try:
        events = store.count_events()
        assert events == N + 1
        now = datetime(2026, 11, 20, 0, tzinfo=UTC)
        w = kpi.make_window("custom", now, start=date(2026, 10, 21), end=date(2026, 11, 19))
        incidents = kpi.unit_values(store, "security_incidents", w)
        busy = [p for p, v in incidents.items() if v.numerator]
        assert len(busy) >= 20, busy
        assert "68" in busy
        assert kpi.total_value(store, "security_incidents", w).value > 0
        violations = kpi.unit_values(store, "traffic_violations", w)
        assert sum(1 for v in violations.values() if v.numerator) >= 10
        # Past alarms were handled by someone: a median acknowledgement time exists.
        acks = kpi.unit_values(store, "alarm_ack_median", w)
        assert sum(1 for v in acks.values() if v.value) >= 5
        # Nothing after the end (the demo's replay starts there), nothing before the start.
        newest = store.find_events(limit=1)[0].ts
        assert newest <= now and newest > now - timedelta(days=1)
        assert history_marker(store)["inserted"] == N
        assert live in {a.id for a in store.alarms(states=("open",), limit=100_000)}
    finally:
        store.close()

    second = _history(url, tmp_path, "--end", "2026-11-21T07:00+07:00")
    assert second["skipped"] and second["inserted"] == 0
    store = open_store(url)
    try:
        assert store.count_events() == events
    finally:
        store.close()


def test_demo_writes_its_history_once(tmp_path, monkeypatch):
    # A small N here; the default (300,000 events) takes well under a minute, timed by hand.
    from ioc import demo
    from ioc.settings import load_settings

    monkeypatch.setattr(demo, "DEMO_HISTORY_DAYS", 10)
    settings = load_settings(data_dir=str(tmp_path), db_url=f"sqlite:///{tmp_path / 'ioc.db'}")
    demo.ensure_demo_history(settings, 3000, demo.demo_feed_path())
    store = open_store(settings.db_url)
    try:
        assert store.count_events() == 3000
        # The history ends where the replay starts: now, not hours before.
        newest = store.find_events(limit=1)[0].ts
        assert datetime.now(UTC) - newest < timedelta(hours=2)
        # Lâm Đồng's history comes from the replayed feed's own cameras: the camera wall
        # lists no camera that only the history knows (it would show as silent).
        province, cams = feed_cameras(demo.demo_feed_path())
        assert province == "68" and len(cams) >= 100
        lam_dong = {d.source for d in store.devices(province="68") if d.domain in CAMERA_DOMAINS}
        assert lam_dong and lam_dong <= {source for source, _ in cams}
        hue = {d.source for d in store.devices(province="46") if d.domain in CAMERA_DOMAINS}
        assert hue and all(s.startswith("cam-46-") for s in hue)
        demo.ensure_demo_history(settings, 3000, demo.demo_feed_path())  # a restart adds nothing
        assert store.count_events() == 3000
    finally:
        store.close()
