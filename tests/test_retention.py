"""Retention on both backends: what is planned, archived, dropped and kept; KPIs over the
dropped days; the CLI; the job in the ingest process; an archived day replayed."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner

from bench.harness_ingest import WorkerProcess
from ioc import kpi
from ioc.archive import ArchiveBusy, DayWriter, archive_lock, archive_path, read_rows
from ioc.cli import cli
from ioc.events import Event
from ioc.retention import parse_retention
from ioc.store import Store, open_store
from sample_feeds.feedfile import FeedReader
from sample_feeds.replay import replay

# Positions go after 30 days, everything else after 45: day OLD goes whole (a TimescaleDB
# chunk), day MID loses its positions only, day NEW keeps everything.
POLICY = "transport.position=30d,default=45d"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TODAY = NOW.date()
OLD, MID, NEW = TODAY - timedelta(days=60), TODAY - timedelta(days=35), TODAY - timedelta(days=1)
DALAT = "24781"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def ev(i: int, kind: str, ts: datetime, source: str, **attrs) -> Event:
    return Event.model_validate(
        {
            "id": f"r-{i}",
            "ts": ts.isoformat(),
            "source": source,
            "kind": kind,
            "severity": 1,
            "province": "68",
            "ward": DALAT,
            "attrs": attrs,
        }
    )


def position(i: int, ts: datetime) -> Event:
    return ev(i, "transport.position", ts, "bus-1", vehicle="bus-1", speed_kmh=30.5, heading=90)


def intrusion(i: int, ts: datetime) -> Event:
    return ev(i, "security.intrusion", ts, "cam-a", camera="cam-a")


def arrival(i: int, ts: datetime, delay: int) -> Event:
    sched = (ts - timedelta(seconds=delay)).isoformat()
    return ev(
        i, "transport.stop_arrival", ts, "bus-1", vehicle="bus-1", stop="S1", scheduled=sched,
        delay_s=delay, trip=f"T{i}", route="R1",
    )  # fmt: skip


def seed(store: Store) -> dict[str, list[str]]:
    """Write the days; return the ids the policy drops (by kind and day) and keeps."""
    events, n = [], 0
    for day in (OLD, MID, NEW):
        for hour in (0, 7, 23):
            for minute in (0, 30):
                n += 1
                events.append(position(n, at(day, hour, minute)))
        n += 1
        events.append(intrusion(n, at(day, 9)))
        n += 1
        events.append(arrival(n, at(day, 10), delay=60 if day != MID else 900))
    assert store.write_batch(events).inserted == len(events)
    old = [e.id for e in events if e.ts.date() == OLD]
    mid = [e.id for e in events if e.ts.date() == MID and e.kind == "transport.position"]
    kept = [e.id for e in events if e.id not in {*old, *mid}]
    return {"old": old, "mid": mid, "kept": kept}


def all_ids(store: Store) -> set[str]:
    with store.transaction(readonly=True) as tx:
        return {r["id"] for r in tx.fetch("SELECT id FROM events")}


def kpi_answers(store: Store) -> dict[str, object]:
    """Every KPI per province and nationally over the days that retention drops."""
    w = kpi.make_window("custom", NOW, start=OLD - timedelta(days=1), end=MID + timedelta(days=1))
    return {
        k: (kpi.unit_values(store, k, w), kpi.total_value(store, k, w, province="68"))
        for k in kpi.KPIS
    }


def test_policy_parses_and_names_what_is_wrong():
    p = parse_retention("transport.position=30d, network.signal_sample=30d ,default=3650d")
    assert p.days("transport.position") == 30 and p.days("security.fire") == 3650
    assert p.longest_days == 3650
    for bad, says in [
        ("default=30", "whole number of days"),
        ("transport.position=30d", "name a default"),
        ("vehicle.position=30d,default=1d", "unknown kind"),
        ("default=-1d", "whole number of days"),
        ("transport.position=3d,transport.position=4d,default=9d", "named twice"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_retention(bad)


def test_plan_then_apply_drops_exactly_the_old_rows_and_keeps_kpis(store, tmp_path):
    ids = seed(store)
    policy = parse_retention(POLICY)
    before = kpi_answers(store)
    assert before["security_incidents"][1].numerator == 2  # OLD and MID intrusions

    plan = store.retention_plan(policy, NOW)
    got = {(u.kind, u.day): u.rows for u in plan.units}
    assert got == {
        ("transport.position", OLD): 6,
        ("security.intrusion", OLD): 1,
        ("transport.stop_arrival", OLD): 1,
        ("transport.position", MID): 6,
    }
    timescale = store.backend == "postgres"
    assert {u.how for u in plan.units if u.day == OLD} == {"chunk" if timescale else "delete"}
    assert len(plan.chunks) == (1 if timescale else 0)
    assert all_ids(store) == {*ids["old"], *ids["mid"], *ids["kept"]}  # a plan drops nothing

    archive = tmp_path / "archive"
    report = store.apply_retention(policy, archive, NOW)
    assert report.skipped == []
    assert report.dropped == 14
    assert all_ids(store) == set(ids["kept"])
    archived = {r["id"] for f in archive.rglob("*.parquet") for r in read_rows(f)}
    assert archived == {*ids["old"], *ids["mid"]}
    day = list(read_rows(archive_path(archive, "transport.position", MID)))
    assert [r["ts"] for r in day] == sorted(r["ts"] for r in day)
    assert day[0]["attrs"] == {"vehicle": "bus-1", "speed_kmh": 30.5, "heading": 90.0}
    assert day[0]["ts"] == at(MID, 0)

    assert kpi_answers(store) == before  # the KPI state answers for the dropped days
    assert store.retention_plan(policy, NOW).units == []
    again = store.apply_retention(policy, archive, NOW)
    assert (again.dropped, again.archived) == (0, [])


def test_a_late_event_for_an_archived_hour_waits_for_the_next_run(store, tmp_path, monkeypatch):
    ids = seed(store)
    policy = parse_retention(POLICY)
    archive = tmp_path / "archive"
    late = position(999, at(MID, 7, 15))

    commit = DayWriter.commit

    def commit_then_late_event(self: DayWriter) -> int:
        total = commit(self)
        if self.path == archive_path(archive, "transport.position", MID):
            store.write_batch([late])  # arrives between the archive and the delete
        return total

    monkeypatch.setattr(DayWriter, "commit", commit_then_late_event)
    monkeypatch.setattr("ioc.store.retention.ROWS_PER_READ", 1)  # big days: read by the hour
    first = store.apply_retention(policy, archive, NOW)
    assert first.skipped == [f"transport.position {MID} 07h: 3 rows, 2 archived"]
    assert first.dropped == 12  # hour 07 of MID (2 positions) waits
    assert late.id in all_ids(store)
    monkeypatch.undo()
    second = store.apply_retention(policy, archive, NOW)
    assert (second.dropped, second.skipped) == (3, [])
    assert all_ids(store) == set(ids["kept"])
    mid = [r["id"] for r in read_rows(archive_path(archive, "transport.position", MID))]
    assert sorted(mid) == sorted([*ids["mid"], late.id])  # merged, none twice


def test_a_failed_archive_drops_nothing_of_its_unit(store, tmp_path):
    ids = seed(store)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "transport.position").write_text("a file where a directory should be")
    report = store.apply_retention(parse_retention(POLICY), archive, NOW)
    positions = {e for e in [*ids["old"], *ids["mid"]] if e in position_ids(store)}
    assert len(positions) == 12  # no position archived, none dropped
    whole_days = store.backend == "postgres"
    # TimescaleDB drops day OLD as one chunk: not while any of its kinds failed to archive.
    assert len(report.skipped) == 2 + whole_days  # OLD and MID positions; the chunk
    dropped = set() if whole_days else set(ids["old"]) - positions
    assert report.dropped == len(dropped)
    assert all_ids(store) == {*ids["old"], *ids["mid"], *ids["kept"]} - dropped


def position_ids(store: Store) -> set[str]:
    with store.transaction(readonly=True) as tx:
        return {
            r["id"] for r in tx.fetch("SELECT id FROM events WHERE kind = 'transport.position'")
        }


def test_one_run_at_a_time_per_archive(store, tmp_path):
    ids = seed(store)
    with archive_lock(tmp_path / "archive"), pytest.raises(ArchiveBusy):
        store.apply_retention(parse_retention(POLICY), tmp_path / "archive", NOW)
    assert all_ids(store) == {*ids["old"], *ids["mid"], *ids["kept"]}
    assert store.apply_retention(parse_retention(POLICY), tmp_path / "archive", NOW).dropped == 14


def test_cli_dry_run_then_apply(store, store_url, tmp_path, monkeypatch):
    seed(store)
    monkeypatch.setenv("IOC_RETENTION", POLICY)
    runner = CliRunner()
    base = ["--db-url", store_url, "--data-dir", str(tmp_path / "data"), "db", "retention"]
    dry = runner.invoke(cli, base)
    assert dry.exit_code == 0, dry.output
    assert "transport.position" in dry.output and "would drop" in dry.output
    assert len(all_ids(store)) == 24
    plan = json.loads(runner.invoke(cli, [*base, "--json"]).output)
    # NOW in the test is this hour; the CLI's now is later, never fewer rows.
    assert plan["rows"] == 14 and plan["applied"] is False
    done = runner.invoke(cli, [*base, "--apply"])
    assert done.exit_code == 0, done.output
    assert "dropped 14 rows" in done.output
    assert len(all_ids(store)) == 10
    assert len(list((tmp_path / "data" / "archive").rglob("*.parquet"))) == 4
    bad = runner.invoke(cli, base, env={"IOC_RETENTION": "default=ten"})
    assert bad.exit_code != 0 and "whole number of days" in bad.output


def wait_for(predicate, worker: WorkerProcess, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert worker.alive, worker.log_tail()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_ingest_runs_the_job_and_an_archived_day_replays_into_a_fresh_store(
    store, store_url, mqtt_broker, tmp_path
):
    ids = seed(store)
    data = tmp_path / "data"
    env = {"IOC_RETENTION": POLICY, "IOC_RETENTION_INTERVAL_S": "1", "IOC_DATA_DIR": str(data)}
    job = WorkerProcess(
        db_url=store_url, mqtt_url=mqtt_broker.url, name="ret-job", group="ret-job", env=env,
        log_path=tmp_path / "job.log",
    ).start()  # fmt: skip
    try:
        assert wait_for(lambda: all_ids(store) == set(ids["kept"]), job), job.log_tail()
    finally:
        assert job.terminate() == 0
    files = sorted((data / "archive").rglob(f"{OLD.isoformat()}.parquet"))
    assert len(files) == 3  # one per kind of the day dropped whole
    assert FeedReader(files[0]).header.start == at(OLD, 0)

    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh = open_store(fresh_url, migrate=True)
    sink = WorkerProcess(
        db_url=fresh_url, mqtt_url=mqtt_broker.url, name="ret-sink", group="ret-sink",
        env={"IOC_RETENTION_INTERVAL_S": "0"}, log_path=tmp_path / "sink.log",
    ).start()  # fmt: skip
    try:
        sink.wait_ready()
        summary = replay([str(f) for f in files], mqtt_broker.url, speed=None)
        assert summary.failed == 0
        assert wait_for(lambda: len(all_ids(fresh)) >= len(ids["old"]), sink)
    finally:
        assert sink.terminate() == 0
    assert all_ids(fresh) == set(ids["old"])
    with fresh.transaction(readonly=True) as tx:
        back = {r["id"]: fresh._from_db(r) for r in tx.fetch("SELECT * FROM events")}
    with_pos = back[ids["old"][0]]
    assert with_pos["ts"] == at(OLD, 0) and with_pos["attrs"]["speed_kmh"] == 30.5
    fresh.close()


def test_bytes_per_event_is_reported(store):
    seed(store)
    size = store.events_storage()
    assert size["rows"] == 24
    assert size["table_bytes"] > 0 and size["index_bytes"] > 0
    assert size["total_bytes"] == size["table_bytes"] + size["index_bytes"]


def test_cli_on_a_store_without_schema_says_what_to_do(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["--db-url", url, "db", "retention"])
    assert result.exit_code == 1 and "ioc db migrate" in result.output


@pytest.mark.parametrize("kind", ["../etc", "a/b.c", "security.intrusion/..", "", ".hidden"])
def test_archive_folder_is_never_a_stored_kind_that_is_not_a_kind(tmp_path, kind):
    with pytest.raises(ValueError, match="not an event kind"):
        archive_path(tmp_path, kind, date(2026, 1, 1))
    assert archive_path(tmp_path, "transport.position", date(2026, 1, 1)) == (
        tmp_path / "transport.position" / "2026-01-01.parquet"
    )
