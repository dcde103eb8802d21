"""Capture live MQTT traffic into a feed file that `replay` plays back unchanged."""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paho.mqtt.subscribeoptions import SubscribeOptions
from tqdm import tqdm

from sample_feeds.feedfile import DEFAULT_TZ, FeedHeader, FeedLine, FeedWriter
from sample_feeds.mqtt import BrokerError, connect, parse_broker_url

logger = logging.getLogger(__name__)

DEFAULT_TOPICS = ("ioc/v1/#",)
SUBSCRIBE_TIMEOUT_S = 10.0
FLUSH_EVERY_S = 1.0


@dataclass
class RecordSummary:
    """What a recording captured."""

    path: Path
    messages: int = 0
    topics: int = 0
    payload_bytes: int = 0
    elapsed_s: float = 0.0
    file_bytes: int = 0
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable form."""
        return {
            "path": str(self.path),
            "messages": self.messages,
            "topics": self.topics,
            "payload_bytes": self.payload_bytes,
            "file_bytes": self.file_bytes,
            "elapsed_s": round(self.elapsed_s, 3),
            "stopped_by": self.reason,
        }

    def report(self) -> str:
        """Human-readable summary."""
        rate = self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (
            f"recorded {self.messages:,} messages on {self.topics:,} topics in "
            f"{self.elapsed_s:.2f} s ({rate:,.0f} msg/s) to {self.path} "
            f"({self.file_bytes:,} bytes; stopped by {self.reason})"
        )


def record(
    mqtt_url: str,
    out: str | Path,
    *,
    topics: Sequence[str] = DEFAULT_TOPICS,
    duration: float | None = None,
    max_messages: int | None = None,
    idle: float | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    progress: bool = False,
    tz: str = DEFAULT_TZ,
) -> RecordSummary:
    """Subscribe to topics and write every message to out until duration/count/idle/stop.

    Offsets are arrival times after the subscription. Messages the broker holds as
    retained arrive first and keep retain=true; with MQTT 5 live messages keep the
    publisher's retain flag too (retain-as-published). QoS is the publisher's (we
    subscribe at 2). on_ready is called once the broker has granted the subscriptions.
    """
    if not topics:
        raise ValueError("no topics to record")
    stop = stop or threading.Event()
    address = parse_broker_url(mqtt_url)
    inbox: queue.SimpleQueue[tuple[float, str, bytes, int, bool]] = queue.SimpleQueue()
    granted = threading.Event()
    refused: list[str] = []

    def on_message(client, userdata, msg) -> None:
        # The network thread only enqueues; the caller's thread does the writing.
        inbox.put((time.monotonic(), msg.topic, msg.payload, msg.qos, bool(msg.retain)))

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
        refused.extend(str(rc) for rc in reason_codes if rc.is_failure)
        granted.set()

    conn = connect(address, "ioc-record")
    client = conn.client
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    if address.mqtt5:
        options = SubscribeOptions(qos=2, retainAsPublished=True)
        client.subscribe([(t, options) for t in topics])
    else:
        logger.warning("MQTT 3.1.1: live messages are recorded with retain=false")
        client.subscribe([(t, 2) for t in topics])
    if not granted.wait(SUBSCRIBE_TIMEOUT_S) or refused:
        client.disconnect()
        client.loop_stop()
        raise BrokerError(f"subscription to {', '.join(topics)} refused: {refused or 'no SUBACK'}")
    # The clock starts at the grant: retained messages sent on subscribe land near t=0.
    t0 = time.monotonic()
    header = FeedHeader(
        start=datetime.now(UTC),
        tz=tz,
        extra={"recorded_from": str(address), "topics": list(topics), "synthetic": False},
    )
    summary = RecordSummary(Path(out))
    seen: set[str] = set()
    bar = tqdm(
        unit="msg", file=sys.stderr, disable=not progress or not sys.stderr.isatty(), desc="record"
    )
    writer = FeedWriter(out, header)
    if on_ready is not None:
        on_ready()
    last_arrival = t0
    last_flush = t0
    try:
        while True:
            now = time.monotonic()
            if stop.is_set():
                summary.reason = "signal"
                break
            if duration is not None and now - t0 >= duration:
                summary.reason = "duration"
                break
            if max_messages is not None and summary.messages >= max_messages:
                summary.reason = "count"
                break
            if idle is not None and now - last_arrival >= idle:
                summary.reason = "idle"
                break
            try:
                arrival, topic, payload, qos, retain = inbox.get(timeout=0.1)
            except queue.Empty:
                if now - last_flush >= FLUSH_EVERY_S:
                    writer.flush()
                    last_flush = now
                continue
            last_arrival = arrival
            writer.write(FeedLine(max(arrival - t0, 0.0), topic, qos, retain, raw=payload))
            summary.messages += 1
            summary.payload_bytes += len(payload)
            seen.add(topic)
            bar.update(1)
    finally:
        client.disconnect()
        client.loop_stop()
        # Whatever already arrived is kept, even when stopping on a count or a signal.
        while max_messages is None or summary.messages < max_messages:
            try:
                arrival, topic, payload, qos, retain = inbox.get_nowait()
            except queue.Empty:
                break
            writer.write(FeedLine(max(arrival - t0, 0.0), topic, qos, retain, raw=payload))
            summary.messages += 1
            summary.payload_bytes += len(payload)
            seen.add(topic)
        writer.close()
        bar.close()
    summary.elapsed_s = time.monotonic() - t0
    summary.topics = len(seen)
    summary.file_bytes = Path(out).stat().st_size
    return summary
