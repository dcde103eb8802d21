"""Store queries the dashboard reads, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from store_support import store_event

from ioc.events import Event

T0 = datetime(2026, 11, 20, 1, 30, 20, tzinfo=UTC)
DALAT = (11.94, 108.44)
HUE = (16.46, 107.59)


ev = partial(store_event, ts=T0)


def position(i: int, ts: datetime, source: str = "bus-1") -> Event:
    return ev(
        i,
        ts=ts,
        kind="transport.position",
        severity=0,
        source=source,
        attrs={"vehicle": source, "speed_kmh": 30.0, "heading": 90.0},
    )


def test_find_events_filters_kinds_sources_and_order(store):
    store.write_batch(
        [
            ev(1, ts=T0),
            position(2, T0 + timedelta(seconds=1)),
            ev(3, ts=T0 + timedelta(seconds=2), source="cam-2", severity=4),
            ev(4, ts=T0 + timedelta(seconds=3), province="46", source="cam-9"),
            position(5, T0 + timedelta(seconds=4)),
        ]
    )
    assert [e.id for e in store.find_events()] == ["e-5", "e-4", "e-3", "e-2", "e-1"]
    assert [e.id for e in store.find_events(exclude_kinds=["transport.position"])] == [
        "e-4",
        "e-3",
        "e-1",
    ]
    assert [e.id for e in store.find_events(kinds=["transport.position"], oldest_first=True)] == [
        "e-2",
        "e-5",
    ]
    assert store.find_events(kinds=[]) == []
    assert [e.id for e in store.find_events(source="cam-2")] == ["e-3"]
    assert [e.id for e in store.find_events(province="68", min_severity=4)] == ["e-3"]
    assert [
        e.id
        for e in store.find_events(
            province="68",
            since=T0 + timedelta(seconds=1),
            until=T0 + timedelta(seconds=4),
            exclude_kinds=["transport.position"],
        )
    ] == ["e-3"]
    assert [e.id for e in store.find_events(limit=2)] == ["e-5", "e-4"]


def test_event_counts_by_ward(store):
    store.write_batch(
        [
            ev(1, ts=T0, severity=2),
            ev(2, ts=T0 + timedelta(seconds=1), severity=4, source="cam-2"),
            position(3, T0 + timedelta(seconds=2)),
            ev(4, ts=T0 + timedelta(seconds=3), province="46", source="cam-9"),
            ev(5, ts=T0 - timedelta(hours=2)),
        ]
    )
    got = store.event_counts_by_ward(
        since=T0 - timedelta(minutes=5), exclude_kinds=["transport.position"]
    )
    dalat_ward = store.get_event("e-1").ward
    hue_ward = store.get_event("e-4").ward
    assert dalat_ward and hue_ward
    assert sorted(got) == sorted([("68", dalat_ward, 2, 4), ("46", hue_ward, 1, 3)])
    assert store.event_counts_by_ward(since=T0 - timedelta(minutes=5), province="46") == [
        ("46", hue_ward, 1, 3)
    ]
    assert (
        sum(
            n
            for *_, n, _top in store.event_counts_by_ward(
                since=T0 - timedelta(minutes=5), domain="transport"
            )
        )
        == 1
    )


def test_events_per_minute_buckets_by_minute_and_kind(store):
    now = T0 + timedelta(minutes=2, seconds=5)  # 01:32:25
    store.write_batch(
        [
            ev(1, ts=T0),  # 01:30:20
            ev(2, ts=T0 + timedelta(seconds=30)),  # 01:30:50
            position(3, T0 + timedelta(seconds=45)),  # 01:31:05
            ev(4, ts=T0 + timedelta(minutes=2)),  # 01:32:20, the current minute
            ev(5, ts=T0 - timedelta(minutes=30)),  # outside the window
            ev(6, ts=T0 + timedelta(minutes=1), province="46", source="cam-9"),  # 01:31:20
        ]
    )
    m = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
    got = store.events_per_minute(minutes=5, now=now)
    assert sorted(got) == sorted(
        [
            (m, "security.intrusion", 2),
            (m + timedelta(minutes=1), "transport.position", 1),
            (m + timedelta(minutes=1), "security.intrusion", 1),
            (m + timedelta(minutes=2), "security.intrusion", 1),
        ]
    )
    assert all(t.tzinfo is not None for t, _, _ in got)
    scoped = store.events_per_minute(minutes=5, now=now, province="68")
    assert sum(n for _, _, n in scoped) == 4
    assert store.events_per_minute(minutes=1, now=now) == [
        (m + timedelta(minutes=2), "security.intrusion", 1)
    ]


def test_newest_event_ts_per_province(store):
    assert store.newest_event_ts() is None
    assert store.newest_event_ts(province="68") is None
    store.write_batch(
        [ev(1, ts=T0), ev(2, ts=T0 + timedelta(minutes=1), province="46", source="cam-9")]
    )
    assert store.newest_event_ts() == T0 + timedelta(minutes=1)
    assert store.newest_event_ts(province="68") == T0
    assert store.newest_event_ts(province="01") is None


def test_latest_per_source(store):
    snap = {
        "reason": "interval",
        "snapshot": {"path": "cam-1/a.jpg", "sha256": "a" * 64, "size": 10},
    }
    store.write_batch(
        [
            ev(1, ts=T0, kind="camera.snapshot", severity=0, attrs=snap),
            ev(2, ts=T0 + timedelta(seconds=10), kind="camera.snapshot", severity=0, attrs=snap),
            ev(3, ts=T0 + timedelta(seconds=20)),  # newer, but not a snapshot kind
            ev(
                4,
                ts=T0 + timedelta(seconds=5),
                kind="camera.snapshot",
                severity=0,
                source="cam-2",
                attrs=snap,
            ),
        ]
    )
    got = store.latest_per_source(["cam-1", "cam-2", "cam-3"], kinds=["camera.snapshot"])
    assert {s: [e.id for e in v] for s, v in got.items()} == {"cam-1": ["e-2"], "cam-2": ["e-4"]}
    two = store.latest_per_source(
        ["cam-1"], kinds=["camera.snapshot", "security.intrusion"], per_source=2
    )
    assert [e.id for e in two["cam-1"]] == ["e-3", "e-2"]
    recent = store.latest_per_source(
        ["cam-1", "cam-2"], kinds=["camera.snapshot"], since=T0 + timedelta(seconds=8)
    )
    assert list(recent) == ["cam-1"]
    assert store.latest_per_source([], kinds=["camera.snapshot"]) == {}


def test_get_device(store):
    assert store.get_device("bus-1") is None
    store.write_batch([position(1, T0), position(2, T0 + timedelta(seconds=5))])
    dev = store.get_device("bus-1")
    assert dev is not None and dev.domain == "transport" and dev.last_event_id == "e-2"
    assert dev.province == "68" and dev.last_attrs["vehicle"] == "bus-1"
