"""`ioc bench validate`: CPU microseconds per message of ways to validate MQTT payloads.

Runs each way over the same messages, in this process, and prints the median of a few
repeats: the bench ingest feed (fresh timestamps, checked against the age and clock-skew
limits) and the recorded sample feeds (old timestamps, not age-checked). Only the
production path (ingest.decode.Decoder) enforces every rule; the others show what the
JSON parsing alone costs, to tell where the microseconds go.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from bench.loadgen import make_events, to_wire
from ingest.decode import Decoder, Received, finish_batch
from ioc.events import TOPIC_PREFIX, Event, is_status_topic, parse_event

Wire = list[tuple[str, bytes]]
BATCH = 1000


def feed_messages(n: int) -> Wire:
    """The first n event messages of the recorded sample feeds (status topics left out)."""
    import sample_feeds
    from sample_feeds.feedfile import FeedReader

    out = []
    for path in sorted(Path(sample_feeds.__file__).parent.glob("*.jsonl.gz")):
        for line in FeedReader(path):
            if not is_status_topic(line.topic):
                out.append((line.topic, line.payload))
            if len(out) >= n:
                return out
    return out


def ways(now: datetime | None) -> dict[str, Callable[[str, bytes], Any]]:
    """Name -> a function of (topic, payload)."""
    decoder = Decoder(
        prefix=TOPIC_PREFIX,
        max_bytes=64 * 1024,
        max_age=timedelta(days=400),
        max_future=timedelta(minutes=10),
    )
    context = {"now": now} if now else None
    out: dict[str, Callable[[str, bytes], Any]] = {
        "json.loads only": lambda t, p: json.loads(p),
        "parse_event (all rules)": lambda t, p: parse_event(p, t, now=now),
        "json.loads + Event.model_validate": lambda t, p: Event.model_validate(
            json.loads(p), context=context
        ),
        "Event.model_validate_json": lambda t, p: Event.model_validate_json(p, context=context),
    }
    if now is not None:
        out["Decoder.decode, ward per message"] = lambda t, p: decoder.decode(t.encode(), p, 0, 0)
        deferring = Decoder(
            prefix=TOPIC_PREFIX,
            max_bytes=64 * 1024,
            max_age=timedelta(days=400),
            max_future=timedelta(minutes=10),
            defer_wards=True,
        )
        batch: list[Received] = []

        def production(t: str, p: bytes) -> None:
            # As `ioc ingest`: wards from coordinates once per batch of BATCH messages.
            batch.append(deferring.decode(t.encode(), p, 0, 0))
            if len(batch) >= BATCH:
                finish_batch(batch)
                batch.clear()

        out["Decoder.decode + finish_batch (ingest)"] = production
    try:
        import orjson

        out["orjson.loads only"] = lambda t, p: orjson.loads(p)
    except ImportError:
        pass
    return out


def measure(fn: Callable[[str, bytes], Any], wire: Wire, repeats: int) -> float:
    """Median CPU microseconds per message over `repeats` passes."""
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        for topic, payload in wire:
            fn(topic, payload)
        runs.append((time.process_time() - t0) * 1e6 / len(wire))
    return round(statistics.median(runs), 2)


@click.command("validate")
@click.option("-n", "--messages", default=5000, show_default=True, help="Messages of each feed.")
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_validate(messages: int, repeats: int, as_json: bool) -> None:
    """CPU us per message of payload validation: production path vs parsers alone."""
    now = datetime.now(UTC)
    feeds = {
        "bench feed": (to_wire(make_events(messages, now=now, window=timedelta(seconds=60))), now),
        "sample feeds": (feed_messages(messages), None),
    }
    result: dict[str, Any] = {}
    for feed, (wire, at) in feeds.items():
        for name, fn in ways(at).items():
            fn(*wire[0])  # warm caches (geography, validators)
            result.setdefault(feed, {"messages": len(wire)})[name] = measure(fn, wire, repeats)
    if as_json:
        click.echo(json.dumps(result))
        return
    for feed, figures in result.items():
        click.echo(f"{feed} ({figures.pop('messages'):,} messages), CPU us per message:")
        for name, us in figures.items():
            click.echo(f"  {name:<36} {us:8.2f}")
