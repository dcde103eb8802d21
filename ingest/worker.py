"""An ingest worker process, and the supervisor that runs N of them.

Each worker holds one persistent MQTT session (fixed client id, clean start off),
QoS 1, manual acks; N workers split the load on a shared subscription. Its paho
network thread only enqueues; its writer thread validates, commits batches and
acks them after the commit. Memory is bounded twice: by the MQTT 5
receive-maximum the worker asks for, and by the worker itself, which stops
reading from the socket while it holds `queue_max` messages.
"""

from __future__ import annotations

import contextlib
import ctypes
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

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest import partition
from ingest.decode import Decoder, Received
from ingest.metrics import WorkerMetrics, WorkerStats
from ingest.mqtt import IngestClient, connect_properties, subscription
from ingest.retention import start_retention  # retention: the scheduled job
from ingest.writer import DEFAULT_HEARTBEAT_S, BatchWriter, WriterHost, open_store_until_up
from ioc.broker import BrokerUrl
from ioc.broker.client import connect_kwargs, mqtt_client
from ioc.geo import geography
from ioc.settings import Settings
from ioc.store import Store, StoreError, open_store

logger = logging.getLogger(__name__)

DEFAULT_NAME = "ioc-ingest"
DEFAULT_GROUP = "ingest"
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600
DEFAULT_DRAIN_TIMEOUT_S = 30.0
DEFAULT_KEEPALIVE_S = 30
RESTART_BACKOFF_MAX_S = 30.0
RETIRE_QUIET_S = 3.0
SUMMARY_EVERY_S = 60


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker connects, batches and reports."""

    name: str = DEFAULT_NAME
    index: int = 1
    group: str = DEFAULT_GROUP
    batch_size: int = 2000
    batch_ms: int = 200
    receive_maximum: int = 20000
    queue_max: int = 20000
    # Shared when several workers split the load. Mosquitto 2.0 does not keep shared
    # subscriptions over a restart, so one worker alone uses a plain one (docs/broker.md).
    shared: bool = False
    # Partitioned layout (docs/broker.md): worker `index` of `partitions` subscribes to its
    # provinces with plain subscriptions. 1 with shared=False is the single-worker layout.
    partitions: int = 1
    session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S
    keepalive_s: int = DEFAULT_KEEPALIVE_S
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    migrate: bool = True
    # Scale-down: unsubscribe, store what the session still holds, then end the session.
    retire: bool = False
    log_level: int = logging.WARNING

    @property
    def client_id(self) -> str:
        """Fixed per worker, so a restarted worker resumes its broker session."""
        if self.shared:
            return f"{self.name}-{self.index}"
        return partition.client_id(self.name, self.index, self.partitions)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerOptions:
        """Options from settings (batching, queue, metrics port) with explicit overrides."""
        given = {k: v for k, v in overrides.items() if v is not None}
        options = replace(
            cls(
                batch_size=settings.ingest_batch_size,
                batch_ms=settings.ingest_batch_ms,
                queue_max=settings.ingest_queue_max,
                metrics_port=settings.metrics_port,
            ),
            **given,
        )
        if "receive_maximum" not in given:
            # The broker's window should not exceed what the worker is willing to hold.
            options = replace(options, receive_maximum=min(options.queue_max, 65535))
        return options


class IngestWorker(WriterHost):
    """One MQTT session feeding one store writer."""

    def __init__(self, settings: Settings, options: WorkerOptions, *, store: Store | None = None):
        self.settings = settings
        self.options = options
        self.broker = BrokerUrl.parse(settings.mqtt_url)
        # Wards from coordinates are looked up per batch (BatchWriter), not per message.
        self.decoder = Decoder.from_settings(settings, defer_wards=True)
        self.stats = WorkerStats(options.client_id)
        self.metrics = WorkerMetrics(self.stats)
        self._store = store
        self._owns_store = store is None
        self._stop = threading.Event()
        self._draining = False
        # Bumped on every connect and disconnect; acks go only to the current connection.
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._refused_logged = False
        self._unsubscribed = False
        self._retire_done = False
        self._connects = 0
        self._last_message = time.monotonic()
        self.client: IngestClient | None = None
        self.writer: BatchWriter | None = None
        # The catch-all worker of a partitioned layout acks, unstored, what another owns.
        self._owner = (
            partition.Owner(settings.topic_prefix, options.index, options.partitions)
            if options.partitions > 1 and options.index == 1 and not options.shared
            else None
        )
        self._writer_thread: threading.Thread | None = None
        self._writer_ok = True

    # --- lifecycle --------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or stop()); drain, then return the exit code."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # The pool logs every failed reconnect; the writer reports an outage once, then
            # every 30 s, with what it holds.
            logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        try:
            if not self.start():
                return 0
            next_summary = time.monotonic() + SUMMARY_EVERY_S
            last = self.stats.snapshot()
            while not self._stop.wait(0.5):
                if self._writer_thread is not None and not self._writer_thread.is_alive():
                    logger.critical("%s: writer thread died; exiting", self.options.client_id)
                    self._writer_ok = False
                    break
                # paho clears _thread when its loop_start thread ends (only ever on a crash here).
                network = getattr(self.client, "_thread", None)
                if network is None or not network.is_alive():
                    logger.critical("%s: MQTT network thread died; exiting", self.options.client_id)
                    self._writer_ok = False
                    break
                if time.monotonic() >= next_summary:
                    next_summary += SUMMARY_EVERY_S
                    last = self._log_summary(last)
                if self.options.retire and self._retired():
                    logger.warning(
                        "%s: retired: the session is empty; ending it", self.options.client_id
                    )
                    self._retire_done = True
                    break
        finally:
            ok = self.shutdown()
        return 0 if ok else 1

    def _retired(self) -> bool:
        # Done once unsubscribed, nothing is held, and the session has been quiet a while.
        if not self._unsubscribed or self.writer is None or self.writer.depth():
            return False
        return time.monotonic() - self._last_message > RETIRE_QUIET_S

    def _log_summary(self, last: dict[str, Any]) -> dict[str, Any]:
        now = self.stats.snapshot()
        logger.info(
            "%s: last %d s: received %d, stored %d, duplicates %d, dead letters %d, "
            "store errors %d; holding %d%s",
            self.options.client_id,
            SUMMARY_EVERY_S,
            now["received"] - last["received"],
            now["written"] - last["written"],
            now["duplicates"] - last["duplicates"],
            now["dead_letters"] - last["dead_letters"],
            now["store_errors"] - last["store_errors"],
            now["queue_depth"],
            " (reads paused: store behind)" if self.stats.paused() else "",
        )
        return now

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.warning(
            "%s: %s received; draining and stopping",
            self.options.client_id,
            signal.Signals(signum).name,
        )
        self.stop()

    def stop(self) -> None:
        """Ask the worker to drain and stop (thread-safe, idempotent)."""
        self._stop.set()

    def start(self) -> bool:
        """Open the store, start the writer and the MQTT session; False if stopped meanwhile."""
        opts = self.options
        if opts.metrics_port:
            self.metrics.serve(opts.metrics_port, opts.metrics_host)
        store = self._open_store()
        if store is None:
            return False
        if not opts.shared and not opts.retire and opts.partitions == 1:
            # So that a later `--workers N` drains this session (the supervisor records its own).
            try:
                store.record_ingest_layout(opts.name, 1)
            except StoreError as exc:
                logger.warning("%s: could not record the layout: %s", opts.client_id, exc)
        # Load the geography (communes, country outline, point index) before the first
        # message, not during it: it takes about a second.
        geography().locate(21.0285, 105.8542)
        self._start_writer(store, opts.client_id)
        start_retention(self.settings, store, opts, self._stop)  # retention: ingest/retention.py
        self.client = self._make_client()
        client = self.client
        self.stats.paused = lambda: client.paused
        logger.info(
            "%s: connecting to %s, subscribing to %s (batch %d / %d ms, receive-maximum %d)",
            opts.client_id,
            self.broker,
            self._subscription(),
            opts.batch_size,
            opts.batch_ms,
            opts.receive_maximum,
        )
        self.client.loop_start()
        return True

    def _open_store(self) -> Store | None:
        if self._store is None:
            self._store = open_store_until_up(
                self.settings.db_url,
                migrate=self.options.migrate,
                stop=self._stop,
                who=self.options.client_id,
            )
        return self._store

    def shutdown(self) -> bool:
        """Stop reading, commit and ack what is held, close the session; True if fully drained."""
        opts = self.options
        self._draining = True
        ok = self._writer_ok
        if self.writer is not None and self._writer_thread is not None:
            self.writer.stop(opts.drain_timeout_s)
            self._writer_thread.join(opts.drain_timeout_s + 10)
            ok = ok and self._writer_ok and not self._writer_thread.is_alive()
        if self.client is not None:
            self._flush_acks()
            props = None
            # Only once retired: a session ended early would lose what it still holds.
            if self._retire_done and ok and self.broker.v5:
                # Session expiry 0 on DISCONNECT: the broker forgets the session now.
                props = Properties(PacketTypes.DISCONNECT)
                props.SessionExpiryInterval = 0
            self.client.disconnect(properties=props)
            self.client.loop_stop()
        store = self.writer.store if self.writer is not None else self._store
        if store is not None and self._owns_store:
            store.close()
        self.metrics.close()
        logger.warning(
            "%s: stopped (%s); received %d, stored %d, duplicates %d, dead letters %d",
            opts.client_id,
            "drained" if ok else "NOT drained: unacked messages stay with the broker",
            self.stats.received,
            self.stats.written,
            self.stats.duplicates,
            self.stats.dead_letters,
        )
        return ok

    def _flush_acks(self, timeout: float = 5.0) -> None:
        # Acks queued by the writer go out before DISCONNECT; wait briefly so they are on the wire.
        deadline = time.monotonic() + timeout
        while self.stats.connected and self.client is not None and self.client.want_write():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)

    # --- MQTT ---------------------------------------------------------------------------

    def _make_client(self) -> IngestClient:
        opts = self.options
        client = mqtt_client(
            self.broker,
            opts.client_id,
            persistent=True,
            reconnect=(1, 10),
            client_class=IngestClient,
            on_publish_bytes=self._on_publish,
            should_pause=self._queue_full,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        props = connect_properties(
            session_expiry_s=opts.session_expiry_s, receive_maximum=opts.receive_maximum
        )
        client.connect_async(
            **connect_kwargs(
                self.broker, keepalive=opts.keepalive_s, persistent=True, properties=props
            )
        )
        assert isinstance(client, IngestClient)
        return client

    def _on_publish(self, topic: bytes, payload: bytes, mid: int) -> None:
        self.stats.received += 1
        self._last_message = time.monotonic()
        if self._draining:
            return  # not acked: the broker redelivers it to this session next time
        if self._owner is not None and self._owner.elsewhere(topic):
            # The owning worker's own session holds a copy; this one is not ours to store.
            self.stats.foreign += 1
            with self._ack_lock:
                if self.client is not None:
                    self.client.ack_many([mid])
            return
        assert self.writer is not None
        self.writer.submit(topic, payload, mid, self._generation)

    def _queue_full(self) -> bool:
        # Hysteresis: stop reading at queue_max, read again below three quarters of it.
        if self.writer is None:
            return False
        depth = self.writer.depth()
        if self.client is not None and self.client.paused:
            return depth > self.options.queue_max * 3 // 4
        return depth >= self.options.queue_max

    def _ack(self, items: Sequence[Received]) -> None:
        with self._ack_lock:
            generation = self._generation
            mids = [i.mid for i in items if i.generation == generation]
            if mids and self.client is not None:
                self.client.ack_many(mids)
        self.stats.acked += len(mids)
        self.stats.ack_skipped += len(items) - len(mids)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            if not self._refused_logged:
                logger.error(
                    "%s: broker %s refused the connection: %s",
                    self.options.client_id,
                    self.broker,
                    reason,
                )
                self._refused_logged = True
            return
        self._refused_logged = False
        with self._ack_lock:
            self._generation += 1
        self.stats.connected = True
        # The first connection is routine; a reconnection follows a warning, so answer it.
        logger.log(
            logging.WARNING if self._connects else logging.INFO,
            "%s: %s to %s (session %s)",
            self.options.client_id,
            "reconnected" if self._connects else "connected",
            self.broker,
            "resumed" if flags.session_present else "new",
        )
        self._connects += 1
        if self.options.retire:
            # What the session already holds keeps coming; nothing new is routed to it.
            prefix, group = self.settings.topic_prefix, self.options.group
            client.unsubscribe(
                [*self._filters(), subscription(prefix, group, True), subscription(prefix, group, False)]
                if self.broker.v5 else self._filters()
            )  # fmt: skip
            self._last_message = time.monotonic()
            self._unsubscribed = True
            logger.warning(
                "%s: retiring: unsubscribed, storing what is left", self.options.client_id
            )
        elif self.broker.v5:
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in self._filters()])
            if self.options.partitions == 1:
                # A session kept from a run in the other mode would get every message twice.
                prefix, group = self.settings.topic_prefix, self.options.group
                client.unsubscribe(subscription(prefix, group, not self._shared))
        else:
            client.subscribe([(f, 1) for f in self._filters()])

    @property
    def _shared(self) -> bool:
        # MQTT 3.1.1 brokers (amqtt) may not know $share; one plain subscription there.
        return self.options.shared and self.broker.v5

    def _subscription(self) -> str:
        filters = self._filters()
        return filters[0] if len(filters) == 1 else f"{len(filters)} province filters"

    def _filters(self) -> list[str]:
        prefix = self.settings.topic_prefix
        if self.options.partitions > 1 and not self.options.shared:
            return partition.topic_filters(prefix, self.options.index, self.options.partitions)
        return [subscription(prefix, self.options.group, self._shared)]

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        ok = True
        for reason in reasons:
            if reason.is_failure:
                ok = False
                logger.error(
                    "%s: subscription refused by the broker: %s", self.options.client_id, reason
                )
            elif reason.value != 1:
                ok = False
                logger.error(
                    "%s: broker granted QoS %s instead of 1: messages could be lost",
                    self.options.client_id,
                    reason.value,
                )
        self.stats.subscribed = ok

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._ack_lock:
            self._generation += 1
        was_connected = self.stats.connected
        self.stats.connected = False
        self.stats.subscribed = False
        if was_connected and not self._draining:
            logger.warning(
                "%s: lost the broker connection (%s); reconnecting. %d message(s) held will be "
                "stored but not acked; the broker redelivers them",
                self.options.client_id,
                reason,
                self.writer.depth() if self.writer else 0,
            )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        logger.warning("%s: cannot reach broker %s; retrying", self.options.client_id, self.broker)


# --- several workers ------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel send SIGTERM (drain) to this worker if the supervisor dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)


def _child_main(settings: Settings, options: WorkerOptions, parent_pid: int) -> None:
    logging.basicConfig(
        level=options.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _die_with_parent(parent_pid)
    raise SystemExit(IngestWorker(settings, options).run())


def run_workers(settings: Settings, options: WorkerOptions, workers: int) -> int:
    """Run `workers` worker processes (or one in this process) until SIGTERM/SIGINT."""
    BrokerUrl.parse(settings.mqtt_url)  # fail fast on a bad URL
    if options.retire:
        return IngestWorker(settings, options).run()
    if workers == 1 and (options.shared or not _other_layouts(settings, options.name)):
        return IngestWorker(settings, options).run()
    return _Supervisor(settings, options, workers).run()


def _other_layouts(settings: Settings, name: str) -> bool:
    # One worker runs in this process unless sessions of a multi-worker layout need draining.
    # Best effort and quick (SIGTERM is not handled yet): with the store down or not yet
    # migrated, the worker itself waits for it, and old layouts are drained at a later start.
    try:
        store = open_store(settings.db_url, timeout=1.0)
    except StoreError:
        return False
    try:
        return store.ingest_layouts(name) not in ([], [1])
    except StoreError:
        return False
    finally:
        store.close()


def ensure_sessions(
    settings: Settings, options: WorkerOptions, workers: int, stop: threading.Event
) -> bool:
    """Create (or resume) each session of a `workers`-worker layout with its subscriptions."""
    broker = BrokerUrl.parse(settings.mqtt_url)
    for index in range(1, workers + 1):
        opts = replace(options, index=index, partitions=workers, shared=False)
        filters = partition.topic_filters(settings.topic_prefix, index, workers)
        backoff = 0.5
        while not _subscribe_once(broker, opts, filters):
            if stop.wait(backoff):
                return False
            backoff = min(backoff * 2, 5.0)
    return True


def _subscribe_once(broker: BrokerUrl, opts: WorkerOptions, filters: list[str]) -> bool:
    done = threading.Event()
    granted: list[bool] = []
    # Nothing is acked: what the session already holds stays queued for the worker.
    client = mqtt_client(broker, opts.client_id, persistent=True, manual_ack=True)

    def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            done.set()
        elif broker.v5:
            c.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
        else:
            c.subscribe([(f, 1) for f in filters])

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, reasons: list[Any], props: Any) -> None:
        granted.extend(not r.is_failure and r.value == 1 for r in reasons)
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    # Receive-maximum 1: a resumed session sends at most one message here, unacked.
    props = connect_properties(session_expiry_s=opts.session_expiry_s, receive_maximum=1)
    try:
        client.connect(**connect_kwargs(broker, persistent=True, properties=props))
    except OSError as exc:
        logger.warning("cannot reach broker %s to create %s: %s", broker, opts.client_id, exc)
        return False
    client.loop_start()
    try:
        ok = done.wait(10) and len(granted) == len(filters) and all(granted)
    finally:
        client.disconnect()
        client.loop_stop()
    if not ok:
        logger.warning("could not subscribe session %s", opts.client_id)
    return ok


class _Supervisor:
    """Starts N workers, restarts any that die, forwards SIGTERM so each drains."""

    def __init__(self, settings: Settings, options: WorkerOptions, workers: int) -> None:
        self.settings = settings
        self.options = options
        self.workers = workers
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: dict[int, Any] = {}
        self.restarts: dict[int, int] = {}
        self.started: dict[int, float] = {}
        self.stopping = threading.Event()
        self.retiring: dict[tuple[int, int], Any] = {}
        self.failed_layouts: set[int] = set()

    def _options(self, index: int) -> WorkerOptions:
        port = self.options.metrics_port + index - 1 if self.options.metrics_port else 0
        # The supervisor migrated the schema once; N workers racing to do it would conflict.
        partitions = 1 if self.options.shared else self.workers
        return replace(
            self.options, index=index, metrics_port=port, migrate=False, partitions=partitions
        )

    def _start(self, index: int) -> None:
        options = self._options(index)
        proc = self.ctx.Process(
            target=_child_main,
            args=(self.settings, options, os.getpid()),
            name=options.client_id,
        )
        proc.start()
        self.procs[index] = proc
        self.started[index] = time.monotonic()

    def _layout_transition(self) -> list[int]:
        """Record this layout, create its sessions, and return the old layouts to drain."""
        if self.options.shared:
            return []
        name, workers = self.options.name, self.workers
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                store = open_store(self.settings.db_url, migrate=False)
                try:
                    recorded = set(store.ingest_layouts(name))
                    # Recorded before its sessions exist: a crash from here on leaves it listed.
                    store.record_ingest_layout(name, workers)
                finally:
                    store.close()
                break
            except StoreError as exc:
                logger.warning("store not reachable (%s); retrying in %.1f s", exc, backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        else:
            return []
        old = sorted(recorded - {workers})
        if old:
            # The new sessions must hold their subscriptions before an old one unsubscribes:
            # a message published when no subscription matches is dropped by the broker.
            if not ensure_sessions(self.settings, self._options(1), workers, self.stopping):
                return []
            logger.warning(
                "ingest layout changed to %d worker(s): draining the sessions of %s",
                workers,
                ", ".join(f"{m} worker(s)" for m in old),
            )
        return old

    def _start_retire(self, layout: int, index: int) -> None:
        options = replace(
            self.options,
            index=index,
            partitions=layout,
            shared=False,
            retire=True,
            metrics_port=0,
            migrate=False,
        )
        proc = self.ctx.Process(
            target=_child_main,
            args=(self.settings, options, os.getpid()),
            name=f"retire-{options.client_id}",
        )
        proc.start()
        self.retiring[(layout, index)] = proc

    def _check_retired(self) -> None:
        for key, proc in list(self.retiring.items()):
            if proc.is_alive():
                continue
            del self.retiring[key]
            layout = key[0]
            if proc.exitcode != 0:
                # The layout stays recorded; the next start drains it again.
                logger.error("draining %s failed (exit %s)", proc.name, proc.exitcode)
                self.failed_layouts.add(layout)
                continue
            if layout in self.failed_layouts or any(k[0] == layout for k in self.retiring):
                continue
            try:
                store = open_store(self.settings.db_url, migrate=False)
                try:
                    store.forget_ingest_layout(self.options.name, layout)
                finally:
                    store.close()
                logger.warning("every session of the %d-worker layout is drained and ended", layout)
            except StoreError as exc:
                logger.error("could not record the drained %d-worker layout: %s", layout, exc)

    def _migrate(self) -> bool:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                open_store(self.settings.db_url, migrate=True).close()
                return True
            except StoreError as exc:
                logger.warning("store not reachable (%s); retrying in %.1f s", exc, backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        return False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        if self.options.migrate and not self._migrate():
            return 0
        old_layouts = self._layout_transition()
        for index in range(1, self.workers + 1):
            self._start(index)
        for layout in old_layouts:
            for index in range(1, layout + 1):
                self._start_retire(layout, index)
        next_start: dict[int, float] = {}
        while not self.stopping.wait(0.5):
            self._check_retired()
            for index, proc in self.procs.items():
                if proc.is_alive() or index in next_start:
                    continue
                # A worker that ran a while before dying starts over with a short delay.
                ran = time.monotonic() - self.started.get(index, 0.0)
                n = 0 if ran > 60 else self.restarts.get(index, 0)
                delay = min(2**n, RESTART_BACKOFF_MAX_S)
                logger.error(
                    "worker %s exited with code %s; restarting in %.0f s",
                    proc.name,
                    proc.exitcode,
                    delay,
                )
                self.restarts[index] = n + 1
                next_start[index] = time.monotonic() + delay
            for index, at in list(next_start.items()):
                if time.monotonic() >= at:
                    del next_start[index]
                    self._start(index)
        logger.warning("stopping %d ingest workers", len(self.procs))
        for proc in [*self.procs.values(), *self.retiring.values()]:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.options.drain_timeout_s + 15
        code = 0
        for proc in [*self.procs.values(), *self.retiring.values()]:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                logger.error("worker %s did not stop in time; killing it", proc.name)
                proc.kill()
                proc.join()
            code = max(code, proc.exitcode or 0)
        return code
