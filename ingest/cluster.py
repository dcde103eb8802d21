"""The clustered ingest engine: competing consumers of one replicated RabbitMQ quorum queue.

Devices do not change: they publish plain MQTT 3.1.1 at QoS 1 to any node of a
RabbitMQ cluster (its MQTT plugin). The plugin routes each message to the
`amq.topic` exchange with the topic as routing key (`/` becomes `.`), and only sends
the PUBACK once every queue it was routed to has confirmed it; a quorum queue
confirms once a majority of its replicas has the message on disk
(docs/scale-out.md, "What a PUBACK means").

Every worker of every machine consumes that one queue over AMQP with manual acks and
a prefetch window: the same validate -> batch -> one transaction -> ack path as the
Mosquitto engine (ingest/writer.py), only the transport differs. A worker that dies
leaves its unacked messages to the others; a node that dies moves the queue's
leader to another replica and the workers on it reconnect to the next URL.
Redelivered messages are deduplicated by the store (event ids, dead-letter keys).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

from ingest.decode import Decoder, Received
from ingest.metrics import WorkerMetrics, WorkerStats
from ingest.writer import DEFAULT_HEARTBEAT_S, BatchWriter, WriterHost, open_store_until_up
from ioc.settings import Settings
from ioc.store import Store

logger = logging.getLogger(__name__)

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_QUEUE = "ioc.ingest"
# AMQP's prefetch count is a 16-bit field.
MAX_PREFETCH = 65535
RESTART_BACKOFF_MAX_S = 30.0


def routing_key(topic_filter: str) -> str:
    """The AMQP routing key RabbitMQ's MQTT plugin uses for an MQTT topic (or filter)."""
    return topic_filter.replace("/", ".").replace("+", "*")


def mqtt_topic(key: str) -> str:
    """The MQTT topic of a routing key set by the MQTT plugin (inverse of routing_key)."""
    return key.replace(".", "/")


@dataclass(frozen=True)
class ClusterOptions:
    """How one clustered worker connects, batches and reports."""

    amqp_urls: tuple[str, ...] = (DEFAULT_AMQP_URL,)
    queue: str = DEFAULT_QUEUE
    name: str = "ioc-ingest"
    index: int = 1
    batch_size: int = 2000
    batch_ms: int = 200
    prefetch: int = 20000
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    drain_timeout_s: float = 30.0
    migrate: bool = True
    # Replicas of a newly declared quorum queue (0: one per cluster node, RabbitMQ's default).
    replicas: int = 0
    log_level: int = logging.WARNING

    @property
    def worker_id(self) -> str:
        """Distinct per process; nothing is kept under it (the queue is shared)."""
        return f"{self.name}-{self.index}-{os.getpid()}"


def declare_queue(channel: Any, queue: str, prefix: str, replicas: int = 0) -> None:
    """Declare the durable quorum queue and bind it to the MQTT plugin's exchange (idempotent)."""
    arguments: dict[str, Any] = {"x-queue-type": "quorum"}
    if replicas:
        arguments["x-quorum-initial-group-size"] = replicas
    channel.queue_declare(queue, durable=True, arguments=arguments)
    channel.queue_bind(queue, "amq.topic", routing_key=routing_key(f"{prefix}/#"))


class AmqpIngestWorker(WriterHost):
    """One AMQP consumer of the ingest queue feeding one store writer."""

    def __init__(
        self, settings: Settings, options: ClusterOptions, *, store: Store | None = None
    ) -> None:
        if not options.amqp_urls:
            raise ValueError("the rabbitmq engine needs at least one AMQP URL")
        self.settings = settings
        self.options = replace(options, prefetch=max(1, min(options.prefetch, MAX_PREFETCH)))
        self.decoder = Decoder.from_settings(settings)
        self.stats = WorkerStats(options.worker_id)
        self.metrics = WorkerMetrics(self.stats)
        self._store = store
        self._owns_store = store is None
        self._stop = threading.Event()
        self._draining = False
        self._generation = 0
        self._lock = threading.Lock()
        self._conn: Any = None
        self._channel: Any = None
        self._url_index = options.index - 1
        self.writer: BatchWriter | None = None
        self._writer_thread: threading.Thread | None = None
        self._writer_ok = True
        self.stats.paused = lambda: False

    # --- lifecycle --------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to drain and stop (thread-safe, idempotent)."""
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.warning(
            "%s: %s received; draining", self.stats.worker_id, signal.Signals(signum).name
        )
        self.stop()

    def run(self) -> int:
        """Consume until SIGTERM/SIGINT (or stop()); drain, then return the exit code."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        try:
            store = self._open_store()
            if store is None:
                return 0
            if self.options.metrics_port:
                self.metrics.serve(self.options.metrics_port, self.options.metrics_host)
            self._start_writer(store, self.stats.worker_id)
            self._consume_forever()
        finally:
            ok = self._shutdown()
        return 0 if ok else 1

    def _open_store(self) -> Store | None:
        if self._store is None:
            self._store = open_store_until_up(
                self.settings.db_url,
                migrate=self.options.migrate,
                stop=self._stop,
                who=self.stats.worker_id,
            )
        return self._store

    def _shutdown(self) -> bool:
        self._draining = True
        ok = self._writer_ok
        if self.writer is not None and self._writer_thread is not None:
            # Stop taking deliveries; what is held is committed and acked below.
            with contextlib.suppress(Exception):
                if self._channel is not None and self._channel.is_open:
                    self._channel.stop_consuming()
            self.writer.stop(self.options.drain_timeout_s)
            while self._writer_thread.is_alive():
                self._serve(0.05)  # keep running the acks the writer schedules
            ok = ok and self._writer_ok
        self._serve(0.1)
        with contextlib.suppress(Exception):
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
        if self._store is not None and self._owns_store:
            self._store.close()
        self.metrics.close()
        logger.warning(
            "%s: stopped (%s); received %d, stored %d, duplicates %d, dead letters %d",
            self.stats.worker_id,
            "drained" if ok else "NOT drained: unacked messages go back to the queue",
            self.stats.received,
            self.stats.written,
            self.stats.duplicates,
            self.stats.dead_letters,
        )
        return ok

    # --- AMQP -------------------------------------------------------------------------

    def _consume_forever(self) -> None:
        import pika.exceptions

        backoff = 0.2
        while not self._stop.is_set():
            if self._writer_thread is not None and not self._writer_thread.is_alive():
                logger.critical("%s: writer thread died; exiting", self.stats.worker_id)
                self._writer_ok = False
                return
            try:
                self._connect()
                backoff = 0.2
                while not self._stop.is_set():
                    self._conn.process_data_events(time_limit=0.2)
                    if self._writer_thread is not None and not self._writer_thread.is_alive():
                        break
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._lost(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _connect(self) -> None:
        import pika

        urls = self.options.amqp_urls
        url = urls[self._url_index % len(urls)]
        self._url_index += 1  # the next attempt (after a failure) tries the next node
        params = pika.URLParameters(url)
        params.heartbeat = 30
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.blocked_connection_timeout = 60
        conn = pika.BlockingConnection(params)
        channel = conn.channel()
        declare_queue(
            channel, self.options.queue, self.settings.topic_prefix, self.options.replicas
        )
        channel.basic_qos(prefetch_count=self.options.prefetch)
        with self._lock:
            self._generation += 1
            self._conn, self._channel = conn, channel
        channel.basic_consume(self.options.queue, self._on_delivery, auto_ack=False)
        self.stats.connected = True
        self.stats.subscribed = True
        logger.info(
            "%s: consuming %s on %s (prefetch %d)",
            self.stats.worker_id,
            self.options.queue,
            params.host + f":{params.port}",
            self.options.prefetch,
        )

    def _lost(self, exc: BaseException) -> None:
        with self._lock:
            self._generation += 1
            conn, self._conn, self._channel = self._conn, None, None
        was = self.stats.connected
        self.stats.connected = False
        self.stats.subscribed = False
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        if was:
            logger.warning(
                "%s: lost the AMQP connection (%s); reconnecting to the next node. %d held "
                "message(s) will be stored but not acked; the queue redelivers them",
                self.stats.worker_id,
                exc or type(exc).__name__,
                self.writer.depth() if self.writer else 0,
            )
        else:
            logger.warning(
                "%s: cannot reach an AMQP node (%s); retrying", self.stats.worker_id, exc
            )

    def _on_delivery(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.stats.received += 1
        if self._draining:
            return  # not acked: redelivered to a worker after this one closes
        assert self.writer is not None
        topic = mqtt_topic(method.routing_key).encode()
        self.writer.submit(topic, body, method.delivery_tag, self._generation)

    def _ack(self, items: Sequence[Received]) -> None:
        """Called by the writer after the commit: ack on the connection's own thread."""
        with self._lock:
            generation, conn, channel = self._generation, self._conn, self._channel
        tags = [i.mid for i in items if i.generation == generation]
        self.stats.ack_skipped += len(items) - len(tags)
        if not tags or conn is None:
            return

        def send() -> None:
            if channel.is_open:
                for tag in tags:
                    channel.basic_ack(tag)
                self.stats.acked += len(tags)

        with contextlib.suppress(Exception):  # a closed connection: the queue redelivers
            conn.add_callback_threadsafe(send)

    def _serve(self, seconds: float) -> None:
        conn = self._conn
        if conn is None or not conn.is_open:
            time.sleep(seconds)
            return
        try:
            conn.process_data_events(time_limit=seconds)
        except Exception as exc:  # lost while draining: what is unacked is redelivered
            self._lost(exc)


# --- several workers on one machine ---------------------------------------------------


def _child_main(settings: Settings, options: ClusterOptions) -> None:
    logging.basicConfig(
        level=options.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # die with the parent
    raise SystemExit(AmqpIngestWorker(settings, options).run())


def run_cluster_workers(settings: Settings, options: ClusterOptions, workers: int) -> int:
    """Run `workers` consumers (one in this process when 1), restarting any that die."""
    if workers == 1:
        return AmqpIngestWorker(settings, options).run()
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    procs: dict[int, Any] = {}
    restarts: dict[int, int] = {}

    def opts_for(i: int) -> ClusterOptions:
        port = options.metrics_port + i - 1 if options.metrics_port else 0
        return replace(options, index=i, metrics_port=port)

    def start(i: int) -> None:
        proc = ctx.Process(target=_child_main, args=(settings, opts_for(i)), name=f"ingest-{i}")
        proc.start()
        procs[i] = proc

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        for proc in procs.values():
            if proc.is_alive():
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    for i in range(1, workers + 1):
        start(i)
    while not stopping.wait(0.5):
        for i, proc in list(procs.items()):
            if not proc.is_alive() and not stopping.is_set():
                restarts[i] = restarts.get(i, 0) + 1
                delay = min(RESTART_BACKOFF_MAX_S, 0.5 * 2 ** min(restarts[i], 6))
                logger.error(
                    "worker %d exited with %s; restarting in %.1f s (its unacked messages "
                    "went to the other consumers)",
                    i,
                    proc.exitcode,
                    delay,
                )
                if stopping.wait(delay):
                    break
                start(i)
    codes = []
    for proc in procs.values():
        proc.join(options.drain_timeout_s + 30)
        codes.append(proc.exitcode or 0)
    return max(codes, default=0)
