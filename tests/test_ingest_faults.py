"""Fault tests: `ioc ingest` as a user runs it, against a real Mosquitto with the shipped
config and real stores, while workers are killed, the store goes away, the broker
restarts, feeds are replayed and invalid messages are mixed in."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from store_support import rollup_total

from bench.harness_ingest import WorkerProcess
from bench.loadgen import invalid_messages, make_events, status_message, to_wire
from ingest.publisher import FastPublisher
from ioc.broker import free_port
from ioc.store import Store, open_store

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


# --- helpers ----------------------------------------------------------------------------


class Feed(threading.Thread):
    """Publishes (topic, payload) pairs at QoS 1 in chunks, in the background."""

    def __init__(self, url: str, wire: list[tuple[str, bytes]], *, chunk: int = 500,
                 pause: float = 0.02, name: str = "feed") -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.url, self.wire, self.chunk, self.pause = url, wire, chunk, pause
        self.client_id = f"test-{name}-{os.getpid()}"
        self.published = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with FastPublisher(self.url, client_id=self.client_id, window=self.chunk) as pub:
                for i in range(0, len(self.wire), self.chunk):
                    self.published += pub.publish(self.wire[i : i + self.chunk])
                    time.sleep(self.pause)
        except BaseException as exc:  # re-raised in the test thread by finish()
            self.error = exc

    def finish(self, timeout: float = 120) -> int:
        self.join(timeout)
        assert not self.is_alive(), "publisher did not finish"
        if self.error:
            raise self.error
        return self.published


def wait_stored(store: Store, n: int, worker: WorkerProcess, timeout: float = 90) -> int:
    """Poll the store until it holds n events; fail early with the log if the worker died."""
    deadline = time.monotonic() + timeout
    count = store.count_events()
    while count < n and time.monotonic() < deadline:
        assert worker.alive, f"ingest exited ({worker.returncode()}):\n{worker.log_tail()}"
        time.sleep(0.2)
        count = store.count_events()
    return count


def ingest(db_url: str, mqtt_url: str, tmp_path: Path, *args: str, workers: int = 1,
           name: str = "ioc-ingest-test", env: dict[str, str] | None = None) -> WorkerProcess:  # fmt: skip
    """An `ioc ingest` process with a short heartbeat, logging into tmp_path."""
    return WorkerProcess(
        db_url=db_url, mqtt_url=mqtt_url, workers=workers, name=name,
        args=["--heartbeat", "0.5", "--batch-ms", "50", *args],
        log_path=tmp_path / f"{name}.log", env=env,
    )  # fmt: skip


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open store on each backend (the conftest's, named here for readability)."""
    s = open_store(store_url, migrate=True)
    yield s
    s.close()


# --- a worker killed with SIGKILL -------------------------------------------------------------


def _mid_stream(mqtt_broker, store_url, tmp_path, n: int, run_id: str):
    """A worker (batches of 500) and a feed of n events, once 3000 of them are written."""
    wire = to_wire(make_events(n, run_id=run_id))
    worker = ingest(store_url, mqtt_broker.url, tmp_path, "--batch-size", "500").start()
    worker.wait_ready()
    feed = Feed(mqtt_broker.url, wire)
    feed.start()
    worker.wait_until(lambda m: m.get("ioc_ingest_written_total", 0) >= 3000, timeout=60)
    return worker, feed


def test_sigkill_mid_stream_then_restart_stores_every_event_once(
    mqtt_broker, store, store_url, tmp_path
):
    n = 15000
    worker, feed = _mid_stream(mqtt_broker, store_url, tmp_path, n, "kill")
    worker.kill()
    killed_at = store.count_events()
    assert 0 < killed_at < n, "the kill must land mid-stream"
    worker.start()
    worker.wait_ready()
    assert feed.finish() == n
    assert wait_stored(store, n, worker) == n
    time.sleep(0.5)  # anything still arriving would be a duplicate row: there must be none
    assert store.count_events() == n
    assert rollup_total(store) == n, "rollups count each event once despite redelivery"
    assert worker.terminate() == 0
    assert store.count_dead_letters() == 0


# --- PostgreSQL goes away --------------------------------------------------------------------


class ThrowawayPostgres:
    """A PostgreSQL 15 + TimescaleDB cluster of our own, so stopping it harms nobody."""

    def __init__(self) -> None:
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bindirs:
            pytest.fail("PostgreSQL server binaries not found (run scripts/provision.sh)")
        self.bindir = Path(bindirs[-1])
        self.base = Path(tempfile.mkdtemp(prefix="ioc-pg-", dir="/tmp"))
        self.data = self.base / "data"
        self.port = free_port()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(self.bindir / tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.base} "
            "-c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off "
            "-c fsync=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-o",
                  options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def throwaway_pg() -> Iterator[ThrowawayPostgres]:
    pg = ThrowawayPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


@pytest.mark.postgres
def test_postgres_outage_mid_stream_holds_bounded_backlog_and_loses_nothing(
    mqtt_broker, throwaway_pg, tmp_path
):
    n = 20000
    queue_max = 3000
    store = open_store(throwaway_pg.url, migrate=True)
    assert store.status()["timescaledb"], "the throwaway server must run TimescaleDB"
    wire = to_wire(make_events(n, run_id="pgdown"))
    worker = ingest(
        throwaway_pg.url, mqtt_broker.url, tmp_path, "--batch-size", "500",
        "--receive-maximum", "1000", "--queue-max", str(queue_max),
    ).start()  # fmt: skip
    try:
        worker.wait_ready()
        feed = Feed(mqtt_broker.url, wire, pause=0.05)
        feed.start()
        worker.wait_until(lambda m: m.get("ioc_ingest_written_total", 0) >= 2000, timeout=60)
        throwaway_pg.stop("fast")
        depths: list[float] = []
        failing_since = None
        deadline = time.monotonic() + 40
        # Hold the outage until the worker has reported it, and a few seconds more.
        while failing_since is None or time.monotonic() - failing_since < 4:
            assert time.monotonic() < deadline, f"outage never reported:\n{worker.log_tail()}"
            assert worker.alive, f"ingest exited during the outage:\n{worker.log_tail()}"
            m = worker.metrics()
            depths.append(m.get("ioc_ingest_queue_depth", 0))
            if failing_since is None and m.get("ioc_ingest_store_up") == 0:
                failing_since = time.monotonic()
                acked_when_failing = m["ioc_ingest_acked_total"]
            time.sleep(0.25)
        m = worker.metrics()
        assert m["ioc_ingest_store_up"] == 0 and m["ioc_ingest_store_errors_total"] >= 1
        assert m["ioc_ingest_acked_total"] == acked_when_failing, "no acks during the outage"
        # Bounded: the queue limit plus at most what one read of the socket buffer held.
        assert max(depths) <= queue_max + 1000, f"backlog not bounded: {max(depths)}"
        assert max(depths) >= 1000, "the outage should have filled the in-flight window"
        throwaway_pg.start()
        assert feed.finish() == n
        assert wait_stored(store, n, worker, timeout=120) == n
        time.sleep(0.5)
        assert store.count_events() == n
        assert rollup_total(store) == n
        assert worker.metrics()["ioc_ingest_store_up"] == 1
        assert worker.terminate() == 0
        log = worker.log_tail(100000)
        assert "store write failed" in log and "store is back" in log
    finally:
        if worker.alive:
            worker.kill()
        store.close()


# --- the broker restarts -----------------------------------------------------------------


def test_broker_restart_mid_stream_loses_nothing(mqtt_broker, store, store_url, tmp_path):
    n = 15000
    worker, feed = _mid_stream(mqtt_broker, store_url, tmp_path, n, "brk")
    mqtt_broker.restart()  # SIGTERM: Mosquitto saves sessions and queued messages
    assert feed.finish() == n
    assert wait_stored(store, n, worker) == n
    time.sleep(0.5)
    assert store.count_events() == n
    assert rollup_total(store) == n
    m = worker.metrics()
    assert m["ioc_ingest_connected"] == 1
    assert worker.terminate() == 0
    assert "lost the broker connection" in worker.log_tail(100000)


# --- duplicates and replays --------------------------------------------------------------


def test_duplicates_and_a_replayed_feed_are_stored_once(mqtt_broker, store, store_url, tmp_path):
    events = make_events(3000, run_id="dup")
    wire = to_wire(events)
    twice = [m for pair in zip(wire, wire, strict=True) for m in pair]  # each event twice in a row
    worker = ingest(store_url, mqtt_broker.url, tmp_path).start()
    worker.wait_ready()
    with FastPublisher(mqtt_broker.url, client_id="test-dup") as pub:
        assert pub.publish(twice) == 6000
        assert wait_stored(store, 3000, worker) == 3000
        assert pub.publish(wire) == 3000  # the whole feed replayed
        assert pub.publish(wire) == 3000  # and again
    worker.wait_until(lambda m: m.get("ioc_ingest_received_total", 0) >= 12000, timeout=60)
    worker.wait_until(lambda m: m.get("ioc_ingest_queue_depth", 1) == 0, timeout=30)
    m = worker.metrics()
    assert worker.terminate() == 0
    assert store.count_events() == 3000
    assert rollup_total(store) == 3000
    assert m["ioc_ingest_written_total"] == 3000
    assert m["ioc_ingest_duplicates_total"] == 9000
    stored = store.get_event(events[1234].id)
    assert stored is not None and stored.attrs == events[1234].attrs


# --- invalid messages -------------------------------------------------------------------


def test_mixed_stream_stores_valid_and_dead_letters_each_invalid_with_reason(
    mqtt_broker, store, store_url, tmp_path
):
    events = make_events(2000, run_id="mix")
    valid = to_wire(events)
    cases = invalid_messages(run_id="mixbad")
    status_topic, status_payload = status_message(events[0].source, events[0].province, "offline")
    stream: list[tuple[str, bytes]] = []
    for i, message in enumerate(valid):
        stream.append(message)
        if i % 100 == 50 and i // 100 < len(cases):
            case = cases[i // 100]
            stream.append((case.topic, case.payload))
    stream.append((status_topic, status_payload))
    assert len(stream) == 2000 + len(cases) + 1
    worker = ingest(store_url, mqtt_broker.url, tmp_path, "--batch-size", "256").start()
    worker.wait_ready()
    with FastPublisher(mqtt_broker.url, client_id="test-mix") as pub:
        assert pub.publish(stream) == len(stream)
    worker.wait_until(lambda m: m.get("ioc_ingest_acked_total", 0) >= len(stream), timeout=60)
    m = worker.metrics()
    assert worker.terminate() == 0
    assert store.count_events() == 2000
    assert m["ioc_ingest_dead_letters_total"] == len(cases)
    letters = {(d.topic, d.payload): d for d in store.dead_letters(limit=100)}
    assert len(letters) == len(cases)
    for case in cases:
        letter = letters[(case.topic, case.payload)]
        assert case.reason in letter.reason, (case.name, letter.reason)
        assert letter.worker == "ioc-ingest-test-1"
    device = store.get_device(events[0].source)
    assert device is not None and device.status == "offline"


# --- SIGTERM drains ---------------------------------------------------------------------------


def test_sigterm_drains_what_it_holds_and_exits_cleanly(mqtt_broker, sqlite_url, tmp_path):
    n = 10000
    store = open_store(sqlite_url, migrate=True)
    wire = to_wire(make_events(n, run_id="term"))
    # A small window and a long batch wait: SIGTERM finds a part-filled batch in hand.
    worker = ingest(sqlite_url, mqtt_broker.url, tmp_path, "--batch-size", "1000",
                    "--batch-ms", "2000", "--receive-maximum", "500", "--queue-max", "1500",
                    ).start()  # fmt: skip
    worker.wait_ready()
    with FastPublisher(mqtt_broker.url, client_id="test-term") as pub:
        assert pub.publish(wire) == n
    m = worker.wait_until(lambda m: m.get("ioc_ingest_received_total", 0) >= 2000, timeout=60)
    assert worker.terminate() == 0
    [health] = store.workers()
    assert health.queue_depth == 0, "drained: nothing held at exit"
    assert health.received >= m["ioc_ingest_received_total"]
    stored = store.count_events()
    assert stored == health.written and stored < n, "SIGTERM must land mid-stream"
    assert "stopped (drained)" in worker.log_tail()
    worker.start()
    worker.wait_ready()  # a SIGTERM before the handlers exist would just end the process
    assert wait_stored(store, n, worker) == n
    assert worker.terminate() == 0
    assert store.count_events() == n
    store.close()


# --- several workers, and the MQTT 3.1.1 fallback -----------------------------------------------


@pytest.mark.postgres
def test_two_workers_split_the_provinces_and_a_dead_one_is_restarted(mqtt_broker, pg_url, tmp_path):
    n = 12000
    store = open_store(pg_url)
    worker = ingest(pg_url, mqtt_broker.url, tmp_path, "--batch-size", "500", workers=2,
                    name="ioc-ingest-pair").start()  # fmt: skip
    worker.wait_ready()
    pids = worker.worker_pids()
    assert len(pids) == 2
    feed = Feed(mqtt_broker.url, to_wire(make_events(n, run_id="pair")))
    feed.start()
    worker.wait_until(lambda m: m.get("ioc_ingest_written_total", 0) >= 2000, timeout=60)
    os.kill(pids[0], signal.SIGKILL)
    assert feed.finish() == n
    assert wait_stored(store, n, worker) == n
    worker.wait_ready()  # the supervisor restarted the dead worker under the same client id
    assert len(worker.worker_pids()) == 2 and pids[0] not in worker.worker_pids()
    per_worker = worker.per_worker()
    assert all(m.get("ioc_ingest_received_total", 0) > 0 for m in per_worker), per_worker
    assert worker.terminate() == 0
    assert "restarting" in worker.log_tail(100000)
    assert sorted(h.worker_id for h in store.workers()) == [
        "ioc-ingest-pair-1of2",
        "ioc-ingest-pair-2of2",
    ]
    assert store.count_events() == n
    assert rollup_total(store) == n
    store.close()


@pytest.mark.postgres
def test_scaling_down_retires_a_session_without_losing_its_share(mqtt_broker, pg_url, tmp_path):
    store = open_store(pg_url)
    batches = [to_wire(make_events(1000, run_id=f"scale{i}", seed=i)) for i in range(4)]

    def publish(i: int) -> None:
        with FastPublisher(mqtt_broker.url, client_id=f"test-scale-{i}") as pub:
            assert pub.publish(batches[i]) == 1000

    pair = ingest(pg_url, mqtt_broker.url, tmp_path, "--shared", workers=2, name="scale").start()
    pair.wait_ready()
    publish(0)
    assert wait_stored(store, 1000, pair) == 1000
    assert pair.terminate() == 0
    publish(1)  # both sessions offline: each keeps its share
    one = ingest(pg_url, mqtt_broker.url, tmp_path, "--shared", name="scale").start()
    one.wait_ready()
    publish(2)  # half of this still goes to the offline scale-2 session
    time.sleep(1)
    held = 3000 - store.count_events()
    assert held > 300, "the stopped worker's session should be holding messages"
    retire = subprocess.run(
        [sys.executable, "-m", "ioc", "--db-url", pg_url, "--mqtt-url", mqtt_broker.url,
         "ingest", "--name", "scale", "--retire", "2", "--heartbeat", "0.5"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert retire.returncode == 0, retire.stderr[-2000:]
    assert "retiring" in retire.stderr
    assert wait_stored(store, 3000, one) == 3000, "the retired session's share was stored"
    publish(3)  # scale-2 is gone: everything now goes to scale-1
    assert wait_stored(store, 4000, one) == 4000
    assert one.terminate() == 0
    assert store.count_events() == 4000
    store.close()


AMQTT_SCRIPT = """
import sys, time
from pathlib import Path
from ioc.broker import AmqttBroker
broker = AmqttBroker(Path(sys.argv[1]), int(sys.argv[2])).start()
print("ready", flush=True)
time.sleep(3600)
"""


@pytest.fixture
def amqtt_broker(tmp_path) -> Iterator[str]:
    """The embedded fallback broker (MQTT 3.1.1 only), in its own process as `ioc demo` runs it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", AMQTT_SCRIPT,
         str(tmp_path / "amqtt"), str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield f"mqtt://127.0.0.1:{port}?protocol=3.1.1"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_mqtt_311_fallback_with_the_embedded_amqtt_broker(amqtt_broker, sqlite_url, tmp_path):
    n = 2000
    store = open_store(sqlite_url, migrate=True)
    worker = ingest(sqlite_url, amqtt_broker, tmp_path).start()
    worker.wait_ready()
    with FastPublisher(amqtt_broker, client_id="test-amqtt") as pub:
        assert pub.publish(to_wire(make_events(n, run_id="amqtt"))) == n
    assert wait_stored(store, n, worker) == n
    assert worker.terminate() == 0
    assert store.count_events() == n
    store.close()


# --- the command line -------------------------------------------------------------------------


def test_cli_refuses_the_embedded_placeholder_with_a_hint(sqlite_url):
    proc = subprocess.run(
        [sys.executable, "-m", "ioc", "--db-url", sqlite_url, "--mqtt-url", "embedded", "ingest"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "ioc broker" in proc.stderr and "--mqtt-url" in proc.stderr


def test_pg_connection_error_is_not_a_crash_at_start(mqtt_broker, tmp_path):
    # Nothing listens on this port: the worker waits for the store instead of exiting.
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    worker = ingest(url, mqtt_broker.url, tmp_path).start()
    time.sleep(3)
    assert worker.alive, worker.log_tail()
    assert worker.terminate() == 0
    assert "store not reachable at start" in worker.log_tail()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
