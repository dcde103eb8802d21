"""Per-worker counters, exported to Prometheus and summarised into the store's health table.

The hot path bumps plain integers (a Prometheus Counter takes a lock per call);
a collector reads them at scrape time. Batch size and latency are histograms,
observed once per committed batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ioc.store import WorkerHealth

logger = logging.getLogger(__name__)

BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000)
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

COUNTERS = {
    "received": "MQTT messages received (including redeliveries).",
    "written": "Events newly stored.",
    "duplicates": "Events skipped because the store already had them.",
    "dead_letters": "Messages stored as dead letters.",
    "statuses": "Device status messages applied.",
    "alarms_opened": "Alarms opened by stored events.",
    "acked": "Messages acknowledged to the broker after their batch committed.",
    "ack_skipped": "Committed messages not acked because their connection had closed "
    "(the broker redelivers them; the store drops the copies).",
    "foreign": "Messages the catch-all worker acked without storing: a province another "
    "partition's session stores.",
    "batches": "Batches committed.",
    "store_errors": "Failed store writes (each is retried).",
}


@dataclass
class WorkerStats:
    """Counters of one worker; written by its network and writer threads."""

    worker_id: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received: int = 0
    written: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    statuses: int = 0
    alarms_opened: int = 0
    acked: int = 0
    ack_skipped: int = 0
    # Acked unstored by the catch-all worker: another partition's session stores them.
    foreign: int = 0
    batches: int = 0
    store_errors: int = 0
    connected: bool = False
    subscribed: bool = False
    store_up: bool = True
    last_commit_monotonic: float | None = None
    last_event_ts: datetime | None = None
    queue_depth: Callable[[], int] = lambda: 0
    paused: Callable[[], bool] = lambda: False

    def health(self) -> WorkerHealth:
        """The summary row the dashboard reads from the store."""
        return WorkerHealth(
            worker_id=self.worker_id,
            started_at=self.started_at,
            heartbeat_at=datetime.now(UTC),
            received=self.received,
            written=self.written,
            duplicates=self.duplicates,
            dead_letters=self.dead_letters,
            store_errors=self.store_errors,
            queue_depth=self.queue_depth(),
            last_event_ts=self.last_event_ts,
        )

    def snapshot(self) -> dict[str, Any]:
        """Counters as a plain dict (logs, tests)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        out["queue_depth"] = self.queue_depth()
        out["connected"] = self.connected
        out["subscribed"] = self.subscribed
        out["store_up"] = self.store_up
        return out


class _StatsCollector(Collector):
    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        s = self.stats
        labels = [s.worker_id]
        for name, doc in COUNTERS.items():
            family = CounterMetricFamily(f"ioc_ingest_{name}", doc, labels=["worker"])
            family.add_metric(labels, getattr(s, name))
            yield family
        gauges = {
            "queue_depth": ("Messages received and not yet committed.", s.queue_depth()),
            "connected": ("1 while connected to the broker.", int(s.connected)),
            "subscribed": ("1 once the broker confirmed the subscription.", int(s.subscribed)),
            "paused": ("1 while reads are paused because the queue is full.", int(s.paused())),
            "store_up": ("0 while store writes are failing and being retried.", int(s.store_up)),
            "started_timestamp_seconds": ("Start time.", s.started_at.timestamp()),
        }
        if s.last_commit_monotonic is not None:
            age = time.monotonic() - s.last_commit_monotonic
            gauges["last_commit_age_seconds"] = ("Seconds since the last committed batch.", age)
        for name, (doc, value) in gauges.items():
            family = GaugeMetricFamily(f"ioc_ingest_{name}", doc, labels=["worker"])
            family.add_metric(labels, value)
            yield family


class WorkerMetrics:
    """The Prometheus registry of one worker: its counters plus batch histograms."""

    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_StatsCollector(stats))
        self.batch_size = self._histogram(
            "ioc_ingest_batch_size", "Messages per committed batch.", BATCH_SIZE_BUCKETS
        )
        self.batch_seconds = self._histogram(
            "ioc_ingest_batch_seconds",
            "Time from the first write of a batch to its commit (retries included).",
            BATCH_SECONDS_BUCKETS,
        )
        self._server: Any = None

    def _histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Any:
        """A histogram of this worker's registry, labelled with its worker id."""
        return Histogram(name, doc, ["worker"], buckets=buckets, registry=self.registry).labels(
            self.stats.worker_id
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics on host:port in a background thread."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        logger.info("metrics of %s on http://%s:%d/metrics", self.stats.worker_id, host, port)

    def close(self) -> None:
        """Stop the HTTP endpoint, if any."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
