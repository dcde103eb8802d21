"""One contract, both backends: what every store must do the same way."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from store_support import store_event

from ioc.events import DeviceStatus
from ioc.facts import local_day, local_midnight
from ioc.store import AlarmTrigger, DeadLetter, StoreError, WorkerHealth, open_store

T0 = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
DALAT = (11.94, 108.44)


ev = partial(store_event, ts=T0)


def test_migrate_is_idempotent_and_versioned(store):
    assert store.schema_version() == store.migrations()[-1][0]
    assert store.migrate() == []
    status = store.status()
    assert status["schema_version"] == status["latest_migration"]
    assert set(store.table_counts()) >= {
        "events",
        "devices",
        "alarms",
        "users",
        "audit_log",
        "dead_letters",
    }


def test_events_are_unique_per_id_and_kpi_facts_count_once(store):
    batch = [ev(i, ts=T0 + timedelta(minutes=i)) for i in range(10)]
    first = store.write_batch(batch)
    assert (first.inserted, first.duplicates) == (10, 0)
    # A redelivery of half the batch plus duplicates inside one batch.
    again = store.write_batch(batch[:5] + [ev(100), ev(100)])
    assert (again.inserted, again.duplicates) == (1, 6)
    assert store.count_events() == 11
    # Intrusions are KPI facts: each stored event counts once, in every grain.
    hour = T0.replace(minute=0)
    hourly = store.kpi_counts(
        ["security.intrusion"], hour - timedelta(hours=1), hour + timedelta(hours=2)
    )
    assert [(r["unit"], r["n"]) for r in hourly] == [("68", 11)]
    day = local_day(T0)
    daily = store.kpi_count_series(
        ["security.intrusion"], local_midnight(day), local_midnight(day + timedelta(days=1)), "day"
    )
    assert [(r["bucket"], r["n"]) for r in daily] == [(day, 11)]
    by_ward = store.kpi_counts(
        ["security.intrusion"], local_midnight(day), local_midnight(day + timedelta(days=1)),
        group="ward",
    )  # fmt: skip
    assert sum(r["n"] for r in by_ward) == 11
    assert all(r["unit"] for r in by_ward), "ward derived from lat/lon must reach the KPI state"


def test_event_round_trip_keeps_everything(store):
    e = ev(1, attrs={"camera": "cam-1", "zone": "Cổng chính", "confidence": 0.5})
    store.write_batch([e])
    got = store.get_event("e-1")
    assert got is not None
    assert got.model_dump() == e.model_dump()
    assert got.ts.tzinfo is not None and got.ts.utcoffset() == timedelta(0)


def test_recent_events_filters(store):
    store.write_batch(
        [
            ev(1, ts=T0, severity=1),
            ev(2, ts=T0 + timedelta(seconds=1), severity=4),
            ev(
                3,
                ts=T0 + timedelta(seconds=2),
                kind="power.outage_started",
                severity=2,
                source="pw-1",
                attrs={"village": "Thôn 1", "outage": "o-1"},
            ),
            ev(4, ts=T0 + timedelta(seconds=3), province="46", at=(16.46, 107.59)),
        ]
    )
    assert [e.id for e in store.recent_events()] == ["e-4", "e-3", "e-2", "e-1"]
    assert [e.id for e in store.recent_events(province="68", min_severity=2)] == ["e-3", "e-2"]
    assert [e.id for e in store.recent_events(domain="power")] == ["e-3"]
    assert [e.id for e in store.recent_events(limit=1)] == ["e-4"]
    assert store.count_events(province="46") == 1
    assert store.count_events(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3)) == 2
    assert store.newest_event_ts() == T0 + timedelta(seconds=3)


def test_device_state_keeps_the_newest(store):
    store.write_batch([ev(2, ts=T0 + timedelta(minutes=5), severity=4)])
    store.write_batch([ev(1, ts=T0, severity=1)])  # older, arrives late
    (dev,) = store.devices()
    assert (dev.source, dev.last_event_id, dev.last_severity) == ("cam-1", "e-2", 4)
    status = DeviceStatus(source="cam-1", state="offline", ts=T0, domain="camera", name="Cổng")
    store.write_batch([], statuses=[("68", status)])
    (dev,) = store.devices(province="68")
    assert (dev.status, dev.name, dev.last_event_id) == ("offline", "Cổng", "e-2")
    assert store.devices(province="46") == []


def test_dead_letters_keep_raw_bytes_and_reason(store):
    raw = b"\xff\xfe not json"
    result = store.write_batch(
        [ev(1)], dead_letters=[DeadLetter("ioc/v1/x", raw, "bad utf-8", "w1")]
    )
    assert result.dead_letters == 1 and result.inserted == 1
    (dl,) = store.dead_letters()
    assert (dl.topic, dl.payload, dl.reason, dl.worker) == ("ioc/v1/x", raw, "bad utf-8", "w1")
    assert store.count_dead_letters() == 1


def test_a_redelivered_dead_letter_is_stored_once(store):
    raw = b"{not json"
    bad = DeadLetter("ioc/v1/46/x", raw, "not JSON", "w1")
    first = store.write_batch([], dead_letters=[bad, bad])
    # Twice in one batch and again in a later batch (a redelivery after a crash before the
    # ack, possibly seen by another worker): one row, the first reason kept.
    again = store.write_batch([], dead_letters=[DeadLetter("ioc/v1/46/x", raw, "other", "w2")])
    assert (first.dead_letters, first.dead_letter_duplicates) == (1, 1)
    assert (again.dead_letters, again.dead_letter_duplicates) == (0, 1)
    assert store.count_dead_letters() == 1
    assert store.dead_letters()[0].reason == "not JSON"
    # Same payload on another topic, or another payload on the same topic: distinct letters.
    other = store.write_batch(
        [],
        dead_letters=[
            DeadLetter("ioc/v1/46/y", raw, "not JSON"),
            DeadLetter("ioc/v1/46/x", raw + b" ", "not JSON"),
            # The key separates topic and payload: this is not ("ioc/v1/46/x", raw).
            DeadLetter("ioc/v1/46/", b"x" + raw, "not JSON"),
        ],
    )
    assert other.dead_letters == 3
    assert store.count_dead_letters() == 4


def test_a_migration_numbered_below_the_newest_is_still_applied(store):
    # Branches number migrations independently: a store that already has a higher version
    # must still get one merged later. Undo 0006, record a later version, migrate again.
    with store.transaction() as tx:
        tx.execute("DROP INDEX dead_letters_dedup")
        tx.execute("ALTER TABLE dead_letters DROP COLUMN dedup_key")
        tx.execute("DROP TABLE ingest_layouts")
        tx.execute("DELETE FROM schema_migrations WHERE version = %s", (6,))
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
            (999, "later", "2026-01-01"),
        )
    assert store.migrate() == [6]
    assert store.migrate() == []
    store.write_batch([], dead_letters=[DeadLetter("t", b"x", "r")] * 2)
    assert store.count_dead_letters() == 1


def test_alarm_lifecycle_merges_and_logs(store):
    trig = AlarmTrigger(
        rule="panic",
        dedup_key="panic:bus-1",
        source="bus-1",
        kind="transport.panic",
        province="68",
        ward=None,
        severity=4,
        title="Báo động khẩn cấp",
        event_id="e-1",
        ts=T0,
    )
    alarm, opened = store.open_or_merge_alarm(trig)
    assert opened and alarm.state == "open"
    merged, opened2 = store.open_or_merge_alarm(
        replace(trig, event_id="e-2", ts=T0 + timedelta(minutes=1))
    )
    assert not opened2 and merged.id == alarm.id and merged.event_count == 2
    assert merged.last_event_at == T0 + timedelta(minutes=1)
    acked = store.alarm_action(alarm.id, actor="op1", action="acknowledge")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "op1"
    with pytest.raises(ValueError, match="acknowledged"):
        store.alarm_action(alarm.id, actor="op2", action="acknowledge")
    store.alarm_action(alarm.id, actor="op1", action="assign", assigned_to="Đội 1")
    store.alarm_action(alarm.id, actor="op1", action="comment", note="'; DROP TABLE alarms; --")
    with pytest.raises(ValueError, match="note"):
        store.alarm_action(alarm.id, actor="op1", action="resolve")
    done = store.alarm_action(alarm.id, actor="op1", action="resolve", note="Đã xử lý")
    assert done.state == "resolved" and done.assigned_to == "Đội 1"
    actions = [a.action for a in store.alarm_actions(alarm.id)]
    assert actions == ["opened", "merged", "acknowledge", "assign", "comment", "resolve"]
    assert store.alarm_actions(alarm.id)[4].note == "'; DROP TABLE alarms; --"
    assert store.alarms() == [] and len(store.alarms(states=["resolved"])) == 1
    # After resolution the same source opens a new alarm.
    again, opened3 = store.open_or_merge_alarm(trig)
    assert opened3 and again.id != alarm.id
    with pytest.raises(KeyError):
        store.alarm_action(99999, actor="op1", action="acknowledge")


def test_users_and_append_only_audit(store):
    store.add_user("lan", "argon2-hash", "operator", province="68")
    with pytest.raises(ValueError, match="exists"):
        store.add_user("lan", "x", "operator")
    with pytest.raises(ValueError, match="role"):
        store.add_user("minh", "x", "superuser")
    user = store.update_user("lan", disabled=True)
    assert user.disabled is True and user.province == "68" and user.role == "operator"
    assert [u.username for u in store.list_users()] == ["lan"]
    first = store.append_audit("lan", "login", details={"ip": "127.0.0.1"})
    store.append_audit("lan", "lookup", target="000123456789", details={"case": "VV-1"})
    entries = store.audit_entries(actor="lan")
    assert [e.action for e in entries] == ["lookup", "login"]
    assert entries[1].id == first and entries[1].details == {"ip": "127.0.0.1"}
    with pytest.raises(Exception, match="append-only"), store.transaction() as tx:
        tx.execute("UPDATE audit_log SET actor = 'x'")
    with pytest.raises(Exception, match="append-only"), store.transaction() as tx:
        tx.execute("DELETE FROM audit_log")
    assert len(store.audit_entries()) == 2


def test_worker_heartbeat_overwrites(store):
    now = datetime.now(UTC)
    store.heartbeat(WorkerHealth("w1", now, now, received=10, written=9, dead_letters=1))
    store.heartbeat(WorkerHealth("w1", now, now + timedelta(seconds=5), received=20, written=19))
    (w,) = store.workers()
    assert (w.received, w.written, w.heartbeat_at) == (20, 19, now + timedelta(seconds=5))
    assert store.workers(stale_after=timedelta(hours=1)) != []


def test_failed_transaction_rolls_back(store):
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute(
            "INSERT INTO dead_letters (topic, payload, reason) VALUES (%s, %s, %s)",
            ("t", b"x", "r"),
        )
        raise RuntimeError("boom")
    assert store.count_dead_letters() == 0


def test_bad_urls_are_clear():
    with pytest.raises(ValueError, match="unsupported store URL"):
        open_store("mysql://x")
    with pytest.raises(ValueError, match="file path"):
        open_store("sqlite:///:memory:")


def test_unreachable_postgres_raises_store_error():
    store = open_store("postgresql://postgres@127.0.0.1:1/nope")
    store.timeout = 1.0
    with pytest.raises(StoreError, match="unreachable|PostgreSQL"):
        store.schema_version()
    store.close()


def test_write_batch_opens_and_merges_alarms_once(store):
    panic = {"vehicle": "bus-7", "route": "R1"}
    batch = [
        ev(
            i,
            ts=T0 + timedelta(seconds=i),
            kind="transport.panic",
            severity=4,
            source="bus-7",
            attrs=panic,
        )
        for i in range(3)
    ]
    result = store.write_batch(batch + [ev(9, severity=1)])  # low-severity intrusion: no alarm
    assert result.alarms_opened == 1
    store.write_batch(batch)  # redelivered: no new alarm, no extra merge
    (alarm,) = store.alarms()
    assert (alarm.rule, alarm.event_count, alarm.first_event_id) == ("panic", 3, "e-0")
    assert alarm.dedup_key == "panic:68:bus-7"
