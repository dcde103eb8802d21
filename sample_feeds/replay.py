"""Publish feed files to a broker, keeping their relative timing (or as fast as possible).

Timing: every message is scheduled against one monotonic clock started at the first
message played, at (feed seconds since that message) / speed. Being late never
shifts later messages, so drift does not accumulate.

Rebasing (``rebase=True``) shifts timestamps so the first message played is "now" and no
message is stamped later than the moment it is due (faster than 1x, feed time is compressed), and
appends ``@<tag>`` to event ids and to the attrs that pair events (incident, gap, outage,
condition). The tag is the rebased feed start in Unix seconds: each loop gets its own
tag, so a looped demo stores every loop as new events, while replaying with the same
``rebase_at`` publishes identical messages, which the store deduplicates.
"""

from __future__ import annotations

import fnmatch
import heapq
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from tqdm import tqdm

from ioc.events import TOPIC_PREFIX
from sample_feeds.feedfile import (
    FeedError,
    FeedLine,
    FeedReader,
    dumps,
    feed_zone,
    format_ts,
    local_offset,
    parse_ts,
)
from sample_feeds.mqtt import Connection, connect, parse_broker_url

logger = logging.getLogger(__name__)

# attrs that pair or group events; suffixed with the rebase tag like the event id.
PAIRING_KEYS = ("incident", "gap", "outage", "condition")
DEFAULT_MAX_OUTSTANDING = 1000
DRAIN_TIMEOUT_S = 60.0


@dataclass
class ReplaySummary:
    """What a replay did, for the final report."""

    messages: int = 0
    files: int = 0
    loops: int = 0
    speed: float | None = None
    feed_seconds: float = 0.0
    publish_s: float = 0.0
    elapsed_s: float = 0.0
    max_lag_s: float = 0.0
    failed: int = 0
    unacked: int = 0
    interrupted: bool = False
    rebase_tags: list[int] = field(default_factory=list)

    @property
    def expected_s(self) -> float | None:
        """Wall seconds the publishing should have taken at the requested speed."""
        if self.speed is None:
            return None
        return self.feed_seconds / self.speed

    @property
    def drift(self) -> float | None:
        """|actual - expected| / expected publishing time; None at --speed max."""
        expected = self.expected_s
        if not expected:
            return None
        return abs(self.publish_s - expected) / expected

    @property
    def achieved_speed(self) -> float | None:
        """Feed seconds played per wall second."""
        return self.feed_seconds / self.publish_s if self.publish_s > 0 else None

    @property
    def rate(self) -> float:
        """Messages per second, until the last was acknowledged."""
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable form (for --json and benchmarks)."""
        return {
            "messages": self.messages,
            "files": self.files,
            "loops": self.loops,
            "speed": self.speed if self.speed is not None else "max",
            "feed_seconds": round(self.feed_seconds, 3),
            "publish_s": round(self.publish_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "expected_s": None if self.expected_s is None else round(self.expected_s, 3),
            "achieved_speed": None
            if self.achieved_speed is None
            else round(self.achieved_speed, 2),
            "drift": None if self.drift is None else round(self.drift, 6),
            "max_lag_s": round(self.max_lag_s, 4),
            "rate_msg_s": round(self.rate, 1),
            "failed": self.failed,
            "unacked": self.unacked,
            "interrupted": self.interrupted,
            "rebase_tags": self.rebase_tags,
        }

    def report(self) -> str:
        """Human-readable summary lines."""
        loops = f", {self.loops} loop{'s' if self.loops != 1 else ''}" if self.loops > 1 else ""
        speed = "max" if self.speed is None else f"{self.speed:g}x"
        achieved = "n/a" if self.achieved_speed is None else f"{self.achieved_speed:,.1f}x"
        drift = "n/a" if self.drift is None else f"{self.drift * 100:.3f} %"
        lines = [
            f"replayed {self.messages:,} messages from {self.files} file"
            f"{'s' if self.files != 1 else ''}{loops} in {self.elapsed_s:.2f} s"
            f"{' (interrupted)' if self.interrupted else ''}",
            f"feed time {_hms(self.feed_seconds)} at speed {speed}: achieved {achieved}, "
            f"drift {drift} (publishing {self.publish_s:.2f} s, max lag {self.max_lag_s * 1000:.1f} ms)",
            f"rate {self.rate:,.0f} msg/s; {self.failed} failed, {self.unacked} unacknowledged",
        ]
        return "\n".join(lines)


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class KindFilter:
    """Comma-separated glob patterns over kinds; '!pattern' excludes, 'status' is device status."""

    def __init__(self, patterns: str | None, prefix: str = TOPIC_PREFIX) -> None:
        items = [p.strip() for p in (patterns or "").split(",") if p.strip()]
        self.include = [p for p in items if not p.startswith("!")]
        self.exclude = [p[1:] for p in items if p.startswith("!")]
        self.prefix = prefix
        self._cache: dict[str, bool] = {}

    def kind_of(self, topic: str) -> str:
        """`domain.event` for an event topic, 'status' for a status topic, else the topic."""
        if topic.startswith(self.prefix + "/"):
            parts = topic[len(self.prefix) + 1 :].split("/")
            if len(parts) == 4:
                return f"{parts[1]}.{parts[3]}"
            if len(parts) == 3 and parts[1] == "status":
                return "status"
        return topic

    def __call__(self, topic: str) -> bool:
        hit = self._cache.get(topic)
        if hit is None:
            kind = self.kind_of(topic)
            included = not self.include or any(fnmatch.fnmatchcase(kind, p) for p in self.include)
            hit = included and not any(fnmatch.fnmatchcase(kind, p) for p in self.exclude)
            self._cache[topic] = hit
        return hit


@dataclass
class _Source:
    reader: FeedReader
    lo: float  # window of the first pass, feed seconds
    hi: float | None

    def window(self, k: int) -> tuple[float, float | None]:
        """The window of pass k: later passes of an open-ended window play whole days."""
        if k == 0 or self.hi is not None:
            return self.lo, self.hi
        return 0.0, None

    def span(self, k: int) -> float | None:
        """Feed seconds pass k covers, when the window or the header says."""
        lo, hi = self.window(k)
        if hi is not None:
            return hi - lo
        duration = self.reader.header.duration_s
        return None if duration is None else duration - lo

    def lines(self, k: int, wanted: Callable[[str], bool]) -> Iterator[tuple[float, FeedLine]]:
        """(offset from the window start, line); retained state before the window comes first."""
        lo, hi = self.window(k)
        # Retained messages before the window are device state, not history: the latest per
        # topic is published at the window start so panels still show every device.
        catchup: dict[str, FeedLine] = {}
        started = False
        for line in self.reader.lines(skip_before=lo):
            if line.offset < lo:
                if line.retain and wanted(line.topic):
                    catchup[line.topic] = line
                continue
            if not started:
                started = True
                yield from ((0.0, held) for held in catchup.values())
                catchup.clear()
            if hi is not None and line.offset >= hi:
                return
            if wanted(line.topic):
                yield line.offset - lo, line
        yield from ((0.0, held) for held in catchup.values())


def _rebase(obj: Any, shift: timedelta, tag: int) -> Any:
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    if isinstance(out.get("ts"), str):
        out["ts"] = format_ts(parse_ts(out["ts"]) + shift)
    if isinstance(out.get("id"), str) and "kind" in out:
        out["id"] = f"{out['id']}@{tag}"
    attrs = out.get("attrs")
    if isinstance(attrs, dict):
        attrs = dict(attrs)
        if isinstance(attrs.get("scheduled"), str):
            attrs["scheduled"] = format_ts(parse_ts(attrs["scheduled"]) + shift)
        for key in PAIRING_KEYS:
            if isinstance(attrs.get(key), str):
                attrs[key] = f"{attrs[key]}@{tag}"
        out["attrs"] = attrs
    return out


class _Publisher:
    """Publishes from the calling thread and runs paho's network loop there too.

    One thread does everything: with paho's background thread, every publish wakes it
    through a socket pair and the two fight over the GIL, which halves the rate.
    """

    def __init__(self, conn: Connection, limit: int, stop: threading.Event) -> None:
        self.conn = conn
        self.client = conn.client
        self.limit = limit
        self.stop = stop
        self.sent = 0
        self.done = 0
        self.failed = 0
        self.client.on_publish = self._on_publish

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # QoS 0: written to the socket; QoS 1/2: acknowledged by the broker.
        self.done += 1
        if reason_code.is_failure:
            self.failed += 1

    def service(self, timeout: float) -> None:
        """Run the network loop once (reads acks, writes, keepalive), reconnecting if needed."""
        rc = self.client.loop(timeout)
        if rc == mqtt.MQTT_ERR_SUCCESS:
            return
        logger.warning("connection to the broker lost (%s); reconnecting", mqtt.error_string(rc))
        while not self.stop.is_set():
            try:
                # paho resends unacknowledged QoS 1/2 messages after reconnecting.
                if self.client.reconnect() == mqtt.MQTT_ERR_SUCCESS:
                    return
            except OSError as exc:
                logger.warning("reconnect failed: %s", exc)
            self.stop.wait(1.0)

    def sleep_until(self, deadline: float) -> bool:
        """Serve the network until the monotonic deadline; False if stopped first."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self.stop.is_set():
                return False
            self.service(min(left, 0.05))

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Publish once fewer than `limit` messages are unacknowledged."""
        while self.sent - self.done >= self.limit and not self.stop.is_set():
            self.service(0.05)
        self.sent += 1
        info = self.client.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and qos == 0:
            # paho drops QoS 0 while disconnected and never calls back.
            self.done += 1
            self.failed += 1
        elif self.sent & 63 == 0:
            self.service(0.0)

    def drain(self, timeout: float) -> int:
        """Wait for outstanding acknowledgements; returns how many are still missing."""
        deadline = time.monotonic() + timeout
        while self.sent > self.done and time.monotonic() < deadline:
            self.service(0.05)
        return self.sent - self.done


def replay(
    files: Sequence[str | Path],
    mqtt_url: str,
    *,
    speed: float | None = 1.0,
    loop: bool = False,
    max_loops: int | None = None,
    start: str | None = None,
    until: str | None = None,
    kinds: str | None = None,
    rebase: bool = False,
    rebase_at: datetime | None = None,
    prefix: str = TOPIC_PREFIX,
    progress: bool = False,
    stop: threading.Event | None = None,
    max_outstanding: int = DEFAULT_MAX_OUTSTANDING,
    on_progress: Callable[[ReplaySummary], None] | None = None,
) -> ReplaySummary:
    """Publish feed files to the broker at mqtt_url; speed=None means as fast as possible.

    Several files play side by side, each from its own start. start/until are HH:MM in
    each feed's time zone (start may be "now"); when looping without `until`, passes
    after the first play whole days. Set `stop` from another thread to end early (a summary is
    still returned). max_loops bounds `loop` (None: until stopped). rebase_at implies
    rebase and fixes the anchor, so the same call twice publishes identical messages.
    on_progress is called with the running summary after each message (keep it cheap).
    """
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be positive or None (max), got {speed}")
    if not files:
        raise ValueError("no feed files given")
    readers = [FeedReader(f) for f in files]
    sources = []
    for reader in readers:
        begin = start
        if begin == "now":
            # The feed's time of day matches the wall clock's; with rebasing, night is night.
            begin = datetime.now(feed_zone(reader.header.tz)).strftime("%H:%M")
        lo = local_offset(reader.header, begin) if begin else 0.0
        hi = None
        if until:
            hi = local_offset(reader.header, until)
            if hi <= lo:
                hi += 86400.0
        sources.append(_Source(reader, lo, hi))
    rebase = rebase or rebase_at is not None
    if rebase:
        missing = [str(r.path) for r in readers if r.header.start is None]
        if missing:
            raise FeedError(f"rebasing needs a header with 'start' in {', '.join(missing)}")
        if rebase_at is not None and speed != 1.0:
            # A fixed anchor keeps feed spacing (repeatable replays): faster than 1x the
            # stamps run ahead of the clock, and ingest refuses those past IOC_MAX_EVENT_FUTURE_S.
            logger.warning(
                "--rebase-at at speed %s: event timestamps keep feed spacing and may lie ahead"
                " of the clock",
                "max" if speed is None else f"{speed:g}",
            )
    player = _Player(
        sources,
        KindFilter(kinds, prefix),
        speed=speed,
        loop=loop,
        max_loops=max_loops,
        rebase=rebase,
        rebase_at=rebase_at,
        stop=stop or threading.Event(),
        on_progress=on_progress,
    )
    conn = connect(parse_broker_url(mqtt_url), "ioc-replay", threaded=False)
    limit = min(max_outstanding, conn.receive_maximum or max_outstanding)
    publisher = _Publisher(conn, limit, player.stop)
    bar = tqdm(
        unit="msg",
        file=sys.stderr,
        disable=not progress or not sys.stderr.isatty(),
        dynamic_ncols=True,
        desc="replay",
    )
    try:
        return player.run(publisher, bar)
    finally:
        bar.close()
        conn.close()


class _Player:
    """One replay run: the schedule, the rebase shifts, and the running summary.

    Time is counted in "virtual" feed seconds since the first message played; pass k
    starts at virtual time V[k] and its window starts at feed offset lo[k], so a message
    at offset o plays at V[k] + (o - lo[k]) and, rebased, carries anchor + that.
    """

    def __init__(
        self,
        sources: list[_Source],
        wanted: KindFilter,
        *,
        speed: float | None,
        loop: bool,
        max_loops: int | None,
        rebase: bool,
        rebase_at: datetime | None,
        stop: threading.Event,
        on_progress: Callable[[ReplaySummary], None] | None = None,
    ) -> None:
        self.sources = sources
        self.wanted = wanted
        self.speed = speed
        self.loop = loop
        self.max_loops = max_loops
        self.rebase = rebase
        self.rebase_at = rebase_at
        self.stop = stop
        self.on_progress = on_progress
        self.summary = ReplaySummary(files=len(sources), speed=speed)
        self.base: float | None = None  # monotonic time of the first message
        self.pass_start = 0.0  # V[k]: virtual time at which the current pass's window opens
        self.anchor: datetime | None = None
        self._warned_raw = False

    def run(self, publisher: _Publisher, bar: tqdm) -> ReplaySummary:
        """Play every pass, then wait for the broker to acknowledge what was sent."""
        summary = self.summary
        try:
            for k in count():
                if self.max_loops is not None and k >= self.max_loops:
                    break
                last_rel = self._pass(k, publisher, bar)
                if self.stop.is_set():
                    summary.interrupted = True
                    break
                if last_rel is None:
                    break  # nothing matched: looping would spin
                summary.loops = k + 1
                logger.info("pass %d done: %d messages so far", k + 1, summary.messages)
                if not self.loop:
                    break
                self.pass_start += self._period(k, last_rel)
        finally:
            # The final figures count until the broker acknowledged the last message.
            summary.unacked = publisher.drain(5.0 if self.stop.is_set() else DRAIN_TIMEOUT_S)
            summary.failed = publisher.failed
            if self.base is not None:
                summary.elapsed_s = time.monotonic() - self.base
        return summary

    def _period(self, k: int, last_rel: float) -> float:
        """Feed seconds from pass k's window start to pass k+1's: the window or the day."""
        spans = [s for s in (src.span(k) for src in self.sources) if s is not None]
        declared = max(spans) if spans else 0.0
        # Never shorter than what was played, and at least a second so rebase tags differ.
        return max(declared, last_rel + 1.0, 1.0)

    def _shifts(self, k: int) -> tuple[list[timedelta], int]:
        """Per-file timestamp shifts of pass k, and the pass's tag (its rebased feed start)."""
        assert self.anchor is not None
        shifts = []
        for src in self.sources:
            feed_start = src.reader.header.start
            assert feed_start is not None
            lo, _ = src.window(k)
            shifts.append(self.anchor + timedelta(seconds=self.pass_start - lo) - feed_start)
        first = self.sources[0].reader.header.start
        assert first is not None
        return shifts, round((first + shifts[0]).timestamp())

    def _pass(self, k: int, publisher: _Publisher, bar: tqdm) -> float | None:
        """Publish one pass over the window; returns the last window offset played (None if none)."""
        summary, speed, stop = self.summary, self.speed, self.stop
        streams = [
            ((rel, i, line) for rel, line in src.lines(k, self.wanted))
            for i, src in enumerate(self.sources)
        ]
        merged = heapq.merge(*streams, key=lambda item: (item[0], item[1]))
        header = self.sources[0].reader.header
        zone = feed_zone(header.tz)
        lo0, _ = self.sources[0].window(k)
        starts = [src.window(k)[0] for src in self.sources]
        shifts: list[timedelta] = []
        tag = 0
        last_rel: float | None = None
        for rel, i, line in merged:
            if self.base is None:
                # The first message played defines virtual time 0 (and "now" when rebasing).
                self.base = time.monotonic()
                self.pass_start = -rel
                if self.rebase:
                    self.anchor = self.rebase_at or datetime.now(UTC).replace(microsecond=0)
            if self.rebase and not shifts:
                shifts, tag = self._shifts(k)
                summary.rebase_tags.append(tag)
            virtual = self.pass_start + rel
            if speed is not None:
                due = self.base + virtual / speed
                lag = time.monotonic() - due
                if lag < 0:
                    if not publisher.sleep_until(due):
                        break
                elif lag > summary.max_lag_s:
                    summary.max_lag_s = lag
            if stop.is_set():
                break
            shift = shifts[i] + self._compress(virtual) if shifts else None
            if shift is not None and line.offset < starts[i]:
                # Retained state caught up at the window start is state as of then: a status
                # from the feed's midnight must not look 7 hours old when a 07:00 replay opens.
                shift += timedelta(seconds=starts[i] - line.offset)
            publisher.publish(line.topic, self._payload(line, shift, tag), line.qos, line.retain)
            summary.publish_s = time.monotonic() - self.base
            summary.messages += 1
            summary.feed_seconds = virtual
            last_rel = rel
            bar.update(1)
            if self.on_progress is not None:
                self.on_progress(summary)
            if header.start is not None and (speed is not None or summary.messages % 512 == 0):
                clock = header.start + timedelta(seconds=lo0 + rel)
                bar.set_postfix_str(
                    f"feed {clock.astimezone(zone):%H:%M:%S}, pass {k + 1}", refresh=False
                )
        return last_rel

    def _compress(self, virtual: float) -> timedelta:
        """Extra shift so a message rebased to now is stamped when it is due, never ahead.

        At speed X the stamp is anchor + virtual / X (the scheduled publish time): feed
        durations shrink by X, as the operator watching sees them; at max speed it is the
        publish time itself. A fixed anchor (rebase_at) keeps feed spacing for repeatability.
        """
        if self.rebase_at is not None or self.speed == 1.0 or self.base is None:
            return timedelta(0)
        due = virtual / self.speed if self.speed else time.monotonic() - self.base
        return timedelta(seconds=due - virtual)

    def _payload(self, line: FeedLine, shift: timedelta | None, tag: int) -> bytes:
        if shift is None:
            return line.payload
        if line.raw is not None:
            if not self._warned_raw:
                logger.warning("payloads stored as text or base64 are replayed without rebasing")
                self._warned_raw = True
            return line.raw
        return dumps(_rebase(line.obj, shift, tag)).encode("utf-8")
