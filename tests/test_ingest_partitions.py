"""`ioc ingest --workers N` as partitions of the provinces on plain persistent subscriptions:
the split itself, and the real thing (Mosquitto with the shipped config, both stores)
through a graceful broker restart, a broker kill -9, and a change of N."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from test_ingest_faults import Feed, ingest, rollup_total, wait_stored

from bench.loadgen import invalid_messages, make_events, to_wire
from ingest import partition
from ingest.publisher import FastPublisher
from ioc.broker import DEFAULT_AUTOSAVE_CHANGES, MosquittoBroker
from ioc.store import Store, open_store

# --- the split ---------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8, 34, 40])
def test_every_province_has_exactly_one_owner(workers):
    shares = [partition.share(i, workers) for i in range(1, workers + 1)]
    owned = [code for s in shares for code in s]
    assert sorted(owned) == sorted(partition.province_codes())
    assert len(owned) == len(set(owned)) == 34
    # Stable: a code's owner depends only on N (sorted codes dealt round-robin).
    assert partition.share(1, workers)[0] == "01"


def test_client_ids_and_filters_encode_the_layout():
    assert partition.client_id("ioc-ingest", 1, 1) == "ioc-ingest-1"
    assert partition.client_id("ioc-ingest", 3, 4) == "ioc-ingest-3of4"
    assert partition.topic_filters("ioc/v1", 1, 1) == ["ioc/v1/#"]
    assert partition.topic_filters("ioc/v1", 1, 4) == ["ioc/v1/#"]  # the catch-all worker
    assert partition.topic_filters("ioc/v1", 2, 4) == [
        f"ioc/v1/{c}/#" for c in partition.share(2, 4)
    ]
    with pytest.raises(ValueError, match="index must be 1..4"):
        partition.share(5, 4)


def test_the_catch_all_worker_leaves_known_provinces_of_others_alone():
    owner = partition.Owner("ioc/v1", 1, 2)
    mine, theirs = partition.share(1, 2)[0], partition.share(2, 2)[0]
    assert not owner.elsewhere(f"ioc/v1/{mine}/transport/bus-1/position".encode())
    assert owner.elsewhere(f"ioc/v1/{theirs}/transport/bus-1/position".encode())
    assert owner.elsewhere(f"ioc/v1/{theirs}".encode())  # `{code}/#` matches the parent level
    # Unknown or malformed provinces match no partition filter: the catch-all stores them.
    for topic in ("ioc/v1/99/x/y/z", "ioc/v1/1/x/y/z", "ioc/v1/", "ioc/v1", "other/01/x"):
        assert not owner.elsewhere(topic.encode()), topic


# --- the real thing ----------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open store on each backend."""
    s = open_store(store_url, migrate=True)
    yield s
    s.close()


def _stream(run_id: str, n: int) -> tuple[list[tuple[str, bytes]], int]:
    """n valid events over all 34 provinces with every invalid case mixed in."""
    valid = to_wire(make_events(n, run_id=run_id, provinces=partition.province_codes()))
    cases = invalid_messages(run_id=f"{run_id}bad")
    stream = list(valid)
    for k, case in enumerate(cases):
        stream.insert((k + 1) * (len(stream) // (len(cases) + 1)), (case.topic, case.payload))
    return stream, len(cases)


def _wait_dead(store: Store, n: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while store.count_dead_letters() < n and time.monotonic() < deadline:
        time.sleep(0.2)
    return store.count_dead_letters()


@pytest.mark.mqtt
@pytest.mark.slow
@pytest.mark.parametrize("how", ["restart", "kill"])
@pytest.mark.parametrize("workers", [2, 4])
def test_partitioned_workers_lose_nothing_when_the_broker_restarts_or_is_killed(
    store, store_url, tmp_path, workers, how
):
    # kill -9 loses what arrived since the broker's last save. Saving after every change
    # (autosave_interval 1) makes that nothing; the shipped 1000 is measured below.
    changes = 1 if how == "kill" else DEFAULT_AUTOSAVE_CHANGES
    with MosquittoBroker(tmp_path / "mosquitto", autosave_changes=changes) as mqtt_broker:
        _survive_broker_fault(mqtt_broker, store, store_url, tmp_path, workers, how)


def _survive_broker_fault(
    mqtt_broker: MosquittoBroker, store: Store, store_url: str, tmp_path, workers: int, how: str
) -> None:
    n = 20000
    stream, bad = _stream(f"p{workers}{how}", n)
    name = f"part{workers}"
    worker = ingest(store_url, mqtt_broker.url, tmp_path, "--batch-size", "500",
                    workers=workers, name=name).start()  # fmt: skip
    worker.wait_ready()
    feed = Feed(mqtt_broker.url, stream, name=f"{how}{workers}")
    feed.start()
    worker.wait_until(lambda m: m.get("ioc_ingest_written_total", 0) >= 3000, timeout=60)
    # Graceful: SIGTERM, Mosquitto saves everything. Kill: SIGKILL, it restarts from its last
    # save (autosave_on_changes, docs/broker.md) and the publisher resends what it had not
    # got a PUBACK for.
    mqtt_broker.stop(kill=how == "kill")
    mid = store.count_events()
    mqtt_broker.start()
    assert feed.finish() == len(stream), "every message was acknowledged by the broker"
    assert 0 < mid < n, "the broker must go down mid-stream"
    assert wait_stored(store, n, worker) == n
    assert _wait_dead(store, bad) == bad
    time.sleep(1)  # a late duplicate would show up as an extra row or dead letter
    assert store.count_events() == n
    assert rollup_total(store) == n
    assert store.count_dead_letters() == bad
    assert worker.terminate() == 0
    ids = sorted(h.worker_id for h in store.workers())
    assert ids == [partition.client_id(name, i, workers) for i in range(1, workers + 1)]


@pytest.mark.mqtt
@pytest.mark.slow
def test_broker_kill_with_the_shipped_config_loses_at_most_the_autosave_bound(sqlite_url, tmp_path):
    # The shipped config saves every 1000 changes: a kill -9 may lose up to that many
    # messages the publisher already has a PUBACK for. Measure it, and hold it to the bound.
    n = 20000
    store = open_store(sqlite_url, migrate=True)
    wire = to_wire(make_events(n, run_id="bound", provinces=partition.province_codes()))
    with MosquittoBroker(tmp_path / "mosquitto") as broker:
        worker = ingest(sqlite_url, broker.url, tmp_path, "--batch-size", "500", workers=2,
                        name="bound").start()  # fmt: skip
        worker.wait_ready()
        feed = Feed(broker.url, wire, name="bound")
        feed.start()
        worker.wait_until(lambda m: m.get("ioc_ingest_written_total", 0) >= 5000, timeout=60)
        broker.stop(kill=True)
        broker.start()
        assert feed.finish() == n
        # Wait until nothing more arrives; what is missing then was lost by the broker.
        stored, quiet_since = store.count_events(), time.monotonic()
        while time.monotonic() - quiet_since < 5 and stored < n:
            time.sleep(0.5)
            now = store.count_events()
            if now != stored:
                stored, quiet_since = now, time.monotonic()
        lost = n - stored
        print(f"kill -9 with autosave_interval {DEFAULT_AUTOSAVE_CHANGES} changes: lost {lost}")
        assert 0 <= lost <= DEFAULT_AUTOSAVE_CHANGES, lost
        assert rollup_total(store) == stored, "no duplicates either"
        assert worker.terminate() == 0
    store.close()


def _wait_layouts(store: Store, layouts: list[int], worker) -> None:
    """Wait up to a minute for the layouts recorded for `lay` to become these."""
    deadline = time.monotonic() + 60
    while store.ingest_layouts("lay") != layouts and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.ingest_layouts("lay") == layouts, worker.log_tail()


@pytest.mark.mqtt
@pytest.mark.slow
def test_changing_the_number_of_workers_drains_the_old_sessions(
    mqtt_broker, store, store_url, tmp_path
):
    batches = [
        to_wire(make_events(2000, run_id=f"lay{i}", seed=i, provinces=partition.province_codes()))
        for i in range(4)
    ]

    def publish(i: int) -> None:
        with FastPublisher(mqtt_broker.url, client_id=f"test-layout-{i}") as pub:
            assert pub.publish(batches[i]) == 2000

    two = ingest(store_url, mqtt_broker.url, tmp_path, workers=2, name="lay").start()
    two.wait_ready()
    publish(0)
    assert wait_stored(store, 2000, two) == 2000
    assert two.terminate() == 0
    publish(1)  # both 2-worker sessions are offline and hold their share
    four = ingest(store_url, mqtt_broker.url, tmp_path, workers=4, name="lay").start()
    four.wait_ready()
    publish(2)  # the new sessions were created before the old ones were drained
    assert wait_stored(store, 6000, four) == 6000
    _wait_layouts(store, [4], four)
    assert four.terminate() == 0
    publish(3)  # offline again: only the 4-worker sessions hold it
    one = ingest(store_url, mqtt_broker.url, tmp_path, workers=1, name="lay").start()
    one.wait_ready()
    assert wait_stored(store, 8000, one) == 8000
    _wait_layouts(store, [1], one)
    assert one.terminate() == 0
    time.sleep(0.5)
    assert store.count_events() == 8000
    assert rollup_total(store) == 8000
    assert "draining the sessions of 2 worker(s)" in four.log_tail(200000)
