"""Ingest pieces on their own: broker URLs, edge validation, the batch writer's guarantees."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from waiting import wait_until

from bench.loadgen import invalid_messages, make_events, status_message, to_wire
from ingest.decode import Decoder, Received
from ingest.metrics import WorkerStats
from ingest.mqtt import subscription
from ingest.writer import BatchWriter, is_data_error
from ioc.broker import BrokerUrl
from ioc.store import StoreError, WriteResult, open_store

DECODER = Decoder(
    prefix="ioc/v1", max_bytes=64 * 1024, max_age=timedelta(days=400),
    max_future=timedelta(minutes=10),
)  # fmt: skip


# --- broker URLs ----------------------------------------------------------------------


def test_broker_url_defaults_to_mqtt5_and_port_1883():
    url = BrokerUrl.parse("mqtt://broker.ioc.local")
    assert (url.host, url.port, url.v5) == ("broker.ioc.local", 1883, True)
    assert subscription("ioc/v1", "ingest", shared=True) == "$share/ingest/ioc/v1/#"
    assert subscription("ioc/v1", "ingest", shared=False) == "ioc/v1/#"


def test_broker_url_protocol_311_has_no_shared_subscription():
    url = BrokerUrl.parse("mqtt://u%40x:p%3Aw@127.0.0.1:1884?protocol=3.1.1")
    assert (url.port, url.v5, url.username, url.password) == (1884, False, "u@x", "p:w")
    assert "p:w" not in str(url)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("embedded", "ioc broker"),
        ("http://x:1883", "unsupported"),
        ("mqtt://x:1883?protocol=3.1", "unsupported MQTT protocol"),
        ("mqtt://:1883", "no host"),
    ],
)
def test_broker_url_errors_say_what_to_do(url, fragment):
    with pytest.raises(ValueError, match=fragment):
        BrokerUrl.parse(url)


# --- edge validation ----------------------------------------------------------------


def test_valid_events_and_statuses_decode():
    events = make_events(50, run_id="dec")
    for (topic, payload), event in zip(to_wire(events), events, strict=True):
        item = DECODER.decode(topic.encode(), payload, 7, 1)
        assert item.reason is None, item.reason
        assert item.event == event
        assert (item.mid, item.generation) == (7, 1)
    topic, payload = status_message("cam-00004-1", "01", "offline")
    item = DECODER.decode(topic.encode(), payload, 8, 1)
    assert item.reason is None
    assert item.status is not None and item.status[0] == "01"
    assert item.status[1].state == "offline"


@pytest.mark.parametrize("case", invalid_messages(), ids=lambda c: c.name)
def test_every_invalid_kind_gets_a_readable_reason(case):
    item = DECODER.decode(case.topic.encode(), case.payload, 1, 1)
    assert item.event is None and item.status is None
    assert item.reason and case.reason in item.reason
    letter = item.dead_letter("w-1")
    assert (letter.topic, letter.payload, letter.worker) == (case.topic, case.payload, "w-1")
    assert letter.received_at is not None


def test_oversized_status_is_dead_lettered():
    decoder = Decoder(prefix="ioc/v1", max_bytes=300, max_age=timedelta(days=1),
                      max_future=timedelta(minutes=1))  # fmt: skip
    topic, payload = status_message("cam-1", "01")
    item = decoder.decode(topic.encode(), payload + b" " * 300, 1, 1)
    assert item.reason and "exceeds" in item.reason


# --- the writer ---------------------------------------------------------------------


class FakeDataError(Exception):
    """Named like the DB-API error a driver raises for values it refuses."""


FakeDataError.__name__ = "DataError"


class FlakyStore:
    """Wraps a real store: fails while `down`, refuses events whose id is in `poison`."""

    def __init__(self, inner):
        self.inner = inner
        self.down = False
        self.poison: set[str] = set()
        self.calls = 0
        self.heartbeats = 0

    def write_batch(self, events, dead_letters=(), statuses=()):
        self.calls += 1
        if self.down:
            raise StoreError("store is down (test)")
        if any(e.id in self.poison for e in events):
            raise FakeDataError("invalid input syntax for type json (test)")
        return self.inner.write_batch(events, dead_letters, statuses)

    def heartbeat(self, health):
        self.heartbeats += 1
        if not self.down:
            self.inner.heartbeat(health)

    def close(self):
        self.inner.close()


@pytest.fixture
def sqlite_store(sqlite_url):
    store = open_store(sqlite_url, migrate=True)
    yield store
    store.close()


def _writer(store, acked, **kw):
    stats = WorkerStats("w-test")
    writer = BatchWriter(
        store, stats=stats, metrics=None, ack=lambda items: acked.extend(items),
        decode=DECODER.decode, batch_size=kw.pop("batch_size", 100), batch_ms=kw.pop("batch_ms", 20),
        max_backoff_s=0.2, heartbeat_s=0.2, **kw,
    )  # fmt: skip
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    return writer, stats, thread


def _items(events, generation=1):
    """Raw messages as the network thread queues them: (topic, payload, packet id, connection)."""
    return [(t.encode(), p, mid, generation) for mid, (t, p) in enumerate(to_wire(events), 1)]


def test_writer_acks_only_after_commit_and_retries_while_store_is_down(sqlite_store):
    store = FlakyStore(sqlite_store)
    acked: list[Received] = []
    store.down = True
    writer, stats, thread = _writer(store, acked)
    items = _items(make_events(250, run_id="down"))
    for item in items:
        writer.submit(*item)
    wait_until(lambda: stats.store_errors >= 2, message="two failed writes while the store is down")
    assert acked == [], "nothing may be acked while the store is down"
    assert not stats.store_up
    assert writer.depth() == 250, "the writer keeps what it holds"
    store.down = False
    wait_until(lambda: len(acked) >= 250, message=lambda: f"250 acks, got {len(acked)}")
    writer.stop(5)
    thread.join(10)
    assert sorted(i.mid for i in acked) == list(range(1, 251))
    assert sqlite_store.count_events() == 250
    assert stats.written == 250 and stats.store_up


def test_a_refused_message_is_dead_lettered_and_its_batch_stored(sqlite_store):
    store = FlakyStore(sqlite_store)
    events = make_events(64, run_id="poison")
    store.poison = {events[37].id}
    acked: list[Received] = []
    writer, stats, thread = _writer(store, acked, batch_size=64, batch_ms=1000)
    for item in _items(events):
        writer.submit(*item)
    writer.stop(5)
    thread.join(10)
    assert len(acked) == 64, "the refused message is acked too, once dead-lettered"
    assert sqlite_store.count_events() == 63
    [letter] = sqlite_store.dead_letters()
    assert "store refused the message" in letter.reason and "DataError" in letter.reason
    assert letter.payload == to_wire([events[37]])[0][1]
    assert stats.dead_letters == 1 and stats.written == 63


def test_refused_dead_letters_are_retried_not_dropped(sqlite_store):
    store = FlakyStore(sqlite_store)
    item = (b"ioc/v1/x", b"{", 1, 1)
    calls = []

    def refuse_everything(events, dead_letters=(), statuses=()):
        calls.append(len(dead_letters))
        if len(calls) < 4:
            raise FakeDataError("no (test)")
        return WriteResult(dead_letters=len(dead_letters))

    store.write_batch = refuse_everything
    acked: list[Received] = []
    writer, _, thread = _writer(store, acked)
    writer.submit(*item)
    deadline = time.monotonic() + 5
    while not acked and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.stop(1)
    thread.join(5)
    assert len(calls) == 4 and [(a.mid, a.topic) for a in acked] == [(1, "ioc/v1/x")]
    assert acked[0].reason and "malformed JSON" in acked[0].reason


def test_drain_gives_up_after_timeout_without_acking(sqlite_store):
    store = FlakyStore(sqlite_store)
    store.down = True
    acked: list[Received] = []
    writer, stats, thread = _writer(store, acked)
    for item in _items(make_events(5, run_id="drain")):
        writer.submit(*item)
    wait_until(lambda: stats.store_errors >= 1, message="the writer trying the downed store")
    started = time.monotonic()
    writer.stop(0.5)
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 3
    assert acked == []


def test_data_errors_are_told_apart_from_outages():
    import sqlite3

    import psycopg

    assert is_data_error(psycopg.errors.InvalidTextRepresentation("x"))
    assert is_data_error(sqlite3.IntegrityError("x"))
    assert is_data_error(ValueError("x"))
    assert not is_data_error(psycopg.errors.UndefinedTable("x"))
    assert not is_data_error(psycopg.OperationalError("x"))
    assert not is_data_error(StoreError("x"))


def test_heartbeat_reports_counters(sqlite_store):
    acked: list[Received] = []
    writer, stats, thread = _writer(sqlite_store, acked)
    for item in _items(make_events(10, run_id="hb")):
        writer.submit(*item)
    wait_until(
        lambda: [h for h in sqlite_store.workers() if h.written == 10],
        message=lambda: f"a heartbeat counting 10 written: {sqlite_store.workers()}",
    )
    writer.stop(1)
    thread.join(5)
    [health] = sqlite_store.workers()
    assert health.worker_id == "w-test" and health.written == 10
    assert health.heartbeat_at > datetime.now(UTC) - timedelta(seconds=30)
