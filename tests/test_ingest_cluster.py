"""The clustered ingest engine (`ioc ingest --engine rabbitmq`) against a real three-node
RabbitMQ cluster started from the Debian binaries: devices publish plain MQTT 3.1.1 at
QoS 1 to any node, workers are competing AMQP consumers of one quorum queue, and the
store (TimescaleDB) is checked for every event exactly once while nodes and workers are
killed with SIGKILL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cluster_support import (
    FailoverFeed,
    RabbitCluster,
    bad_messages,
    sensor_events,
)
from store_support import rollup_total

from bench.harness_ingest import WorkerProcess
from ingest.cluster import mqtt_topic, routing_key
from ioc.store import Store, open_store


def test_routing_keys_round_trip() -> None:
    # The MQTT plugin turns topic levels into routing-key words; ingest turns them back.
    topic = "ioc/v1/46/sensor/sensor-46001-1/reading"
    assert routing_key(topic) == "ioc.v1.46.sensor.sensor-46001-1.reading"
    assert mqtt_topic(routing_key(topic)) == topic
    assert routing_key("ioc/v1/+/status/#") == "ioc.v1.*.status.#"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    c = RabbitCluster(tmp_path_factory.mktemp("rabbit"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


class Run(threading.Thread):
    """A FailoverFeed range published in the background."""

    def __init__(self, feed: FailoverFeed, start: int, end: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.feed, self.range, self.pause = feed, (start, end), pause
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.feed.publish_range(*self.range, pause=self.pause)
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = 240) -> None:
        self.join(timeout)
        assert not self.is_alive(), "publisher did not finish"
        if self.error:
            raise self.error


def workers(
    cluster: RabbitCluster, pg_url: str, prefix: str, queue: str, tmp: Path, n: int,
    extra: tuple[str, ...] = (),
) -> list[WorkerProcess]:  # fmt: skip
    """n `ioc ingest --engine rabbitmq` processes ("machines"), each starting on another node."""
    out = []
    for i in range(n):
        urls = cluster.amqp_urls(first=i % len(cluster.nodes))
        args = ["--engine", "rabbitmq", "--queue", queue, *extra]
        for url in urls:
            args += ["--amqp-url", url]
        out.append(
            WorkerProcess(
                db_url=pg_url,
                mqtt_url=cluster.nodes[0].mqtt_url,
                name=f"host{i + 1}",
                topic_prefix=prefix,
                args=args,
                log_path=tmp / f"worker{i + 1}.log",
            )
        )
    return out


def start_all(procs: list[WorkerProcess]) -> None:
    """Start the worker processes together, then wait until each consumes."""
    for p in procs:
        p.start()
    for p in procs:
        p.wait_ready(90)


def wait_for(condition: Callable[[], bool], run: Run, timeout: float = 120) -> None:
    """Poll condition until true; fail if the publisher ended or erred first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert run.is_alive() and run.error is None, f"publisher ended first: {run.error}"
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def wait_stored(store: Store, n: int, procs: list[WorkerProcess], timeout: float = 180) -> int:
    deadline = time.monotonic() + timeout
    count = store.count_events()
    while count < n and time.monotonic() < deadline:
        assert any(p.alive for p in procs), "\n".join(p.log_tail() for p in procs)
        time.sleep(0.3)
        count = store.count_events()
    return count


def settled(store: Store, procs: list[WorkerProcess], quiet_s: float = 3.0) -> None:
    """Wait until every live worker holds nothing and the store stops changing."""
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        live = [p for p in procs if p.alive]
        held = sum(p.metrics().get("ioc_ingest_queue_depth", 0) for p in live)
        now = store.count_events() + store.count_dead_letters()
        if now != last or held:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.3)


def leader_index(cluster: RabbitCluster, queue: str) -> int:
    """Index of the node holding the quorum queue's leader."""
    via = next(n for n in cluster.nodes if n.proc is not None)
    for row in cluster.quorum_members(queue, via):
        if str(row.get("Raft State", "")).lower() == "leader":
            name = row["Node Name"]
            return next(i for i, n in enumerate(cluster.nodes) if n.name == name)
    raise AssertionError(f"no leader for {queue}")


@pytest.mark.mqtt
@pytest.mark.slow
def test_node_kill_loses_nothing_and_node_rejoins(
    cluster: RabbitCluster, pg_url: str, tmp_path: Path
) -> None:
    """kill -9 of the node holding the queue leader (and the device's and a worker's
    connection) mid-stream: every PUBACKed event is stored exactly once; the node restarts
    and rejoins; then kill -9 of another node mid-stream needs the rejoined replica."""
    prefix, queue = f"t{uuid.uuid4().hex[:6]}/v1", f"nodekill-{uuid.uuid4().hex[:6]}"
    procs = workers(cluster, pg_url, prefix, queue, tmp_path, 2)
    store = open_store(pg_url)
    try:
        start_all(procs)
        first, second, n_bad = 3000, 2000, 20
        run_id = f"nk-{uuid.uuid4().hex[:6]}"
        events = sensor_events(first + second, run_id=run_id)
        wire = [(e.topic(prefix), e.to_json()) for e in events]
        # Bad messages in the first part: those committed on the killed node's connection
        # but not acked come back, and must still be one dead letter each.
        for i, message in enumerate(bad_messages(prefix, n_bad, run_id)):
            wire.insert(first // 2 + i * 20, message)
        first += n_bad
        victim = leader_index(cluster, queue)
        # The device starts on the victim node: it must fail over, and resend what was unacked.
        urls = [n.mqtt_url for n in cluster.nodes]
        feed = FailoverFeed(urls[victim:] + urls[:victim], wire, chunk=100)
        run = Run(feed, 0, first, pause=0.2)  # about 6 s of traffic
        run.start()
        wait_for(lambda: feed.acked >= first // 3, run)
        cluster.nodes[victim].kill()
        run.finish()
        assert feed.failovers >= 1, "the device never lost its node: the kill came too late"
        assert wait_stored(store, first - n_bad, procs) == first - n_bad
        settled(store, procs)
        assert store.count_events() == first - n_bad
        assert rollup_total(store) == first - n_bad
        assert store.count_dead_letters() == n_bad

        # The killed node restarts and rejoins the cluster and the queue.
        node = cluster.nodes[victim]
        node.start()
        node.wait_ready()
        cluster.wait_running(3, via=node)
        members = {r["Node Name"] for r in cluster.quorum_members(queue, node)}
        assert node.name in members

        # Now another node dies mid-stream: the majority needs the rejoined replica.
        other = (victim + 1) % len(cluster.nodes)
        feed2 = FailoverFeed(urls[other:] + urls[:other], wire, chunk=100)
        run = Run(feed2, first, first + second, pause=0.2)
        run.start()
        wait_for(lambda: feed2.acked >= second // 3, run)
        cluster.nodes[other].kill()
        run.finish()
        assert feed2.failovers >= 1
        total = first - n_bad + second
        assert wait_stored(store, total, procs) == total
        settled(store, procs)
        assert store.count_events() == total
        assert rollup_total(store) == total
        assert store.count_dead_letters() == n_bad
        assert all(p.alive for p in procs), "a worker died with its node instead of failing over"
    finally:
        for p in procs:
            if p.alive:
                p.terminate(60)
        for n in cluster.nodes:  # leave three running nodes for the next test
            if n.proc is None:
                n.start()
        for n in cluster.nodes:
            n.wait_ready()
        cluster.wait_running(3)
        store.close()


@pytest.mark.mqtt
@pytest.mark.slow
def test_worker_kill_loses_nothing_and_dead_letters_once(
    cluster: RabbitCluster, pg_url: str, tmp_path: Path
) -> None:
    """kill -9 of one of two workers while it holds messages: they go to the other; every
    event is stored once and every bad message is one dead letter."""
    prefix, queue = f"t{uuid.uuid4().hex[:6]}/v1", f"workerkill-{uuid.uuid4().hex[:6]}"
    victim, survivor = workers(cluster, pg_url, prefix, queue, tmp_path, 2)
    # The victim never fills a batch nor reaches its deadline: all it receives stays
    # uncommitted and unacked, so its kill always leaves messages for the survivor.
    victim.args += ["--batch-size", "100000", "--batch-ms", "600000"]
    procs = [victim, survivor]
    store = open_store(pg_url)
    try:
        start_all(procs)
        n_good, n_bad = 4000, 40
        run_id = f"wk-{uuid.uuid4().hex[:6]}"
        good = [(e.topic(prefix), e.to_json()) for e in sensor_events(n_good, run_id=run_id)]
        bad = bad_messages(prefix, n_bad, run_id)
        wire = list(good)
        for i, message in enumerate(bad):  # spread through the stream
            wire.insert((i + 1) * len(good) // (n_bad + 1) + i, message)
        feed = FailoverFeed([n.mqtt_url for n in cluster.nodes], wire, chunk=100)
        run = Run(feed, 0, len(wire), pause=0.1)
        run.start()
        victim.wait_until(lambda m: m.get("ioc_ingest_queue_depth", 0) >= 500, timeout=120)
        victim.kill()  # SIGKILL: what it held was neither committed nor acked
        run.finish()
        assert wait_stored(store, n_good, [survivor]) == n_good
        settled(store, [survivor])
        assert store.count_events() == n_good
        assert rollup_total(store) == n_good
        assert store.count_dead_letters() == n_bad
    finally:
        for p in procs:
            if p.alive:
                p.terminate(60)
        store.close()
