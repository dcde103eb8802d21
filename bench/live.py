"""`ioc bench live`: publish-to-visible latency of the live page, in headless Chromium.

Each probe event is published to MQTT like a device would; ingest stores it; the
page's poll finds it; a MutationObserver in the browser notes the next animation
frame after its row enters the DOM. Same machine, same clock: latency is
visible_time - publish_time. A store poller also notes when each probe was stored,
to split the path into publish->stored and stored->visible.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

OBSERVER_JS = """
window.__seen = window.__seen || {};
const mark = () => {
  const now = Date.now();
  document.querySelectorAll('#live-feed [data-event]').forEach(el => {
    const id = el.getAttribute('data-event');
    if (id in window.__seen) return;
    window.__seen[id] = {dom: now, frame: null};
    requestAnimationFrame(() => { window.__seen[id].frame = Date.now(); });
  });
};
if (!window.__observer) {
  window.__observer = new MutationObserver(mark);
  window.__observer.observe(document.body, {childList: true, subtree: true});
}
mark();
return Object.keys(window.__seen).length;
"""


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summarise(values: list[float]) -> dict[str, float | None]:
    """p50, p95, max and mean in seconds."""
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
    }


def _mqtt_client(url: str) -> Any:
    """A connected publisher with its network thread; MQTT 3.1.1, as the figures were measured."""
    from ioc.broker import BrokerUrl, connect_and_wait, mqtt_client

    broker = replace(BrokerUrl.parse(url), v5=False)
    client = mqtt_client(broker, f"bench-live-{uuid.uuid4().hex[:8]}")
    connect_and_wait(client, broker)
    return client


def _probe(run: str, i: int, province: str, lat: float, lon: float) -> Any:
    from ioc.events import Event

    return Event.model_validate(
        {
            "id": f"bench-{run}-{i}",
            "ts": datetime.now(UTC).isoformat(),
            "source": f"bench-cam-{run}",
            "kind": "security.loitering",
            "severity": 2,
            "province": province,
            "lat": lat,
            "lon": lon,
            "attrs": {"camera": f"bench-cam-{run}", "zone": "Bench"},
        }
    )


def _load(url: str, prefix: str, rate: float, province: str, stop: threading.Event) -> None:
    """Background traffic stamped now: bus positions, and one incident in twenty."""
    from ioc.events import Event
    from ioc.geo import geography

    communes = geography().communes_of(province)
    client = _mqtt_client(url)
    rng = random.Random(7)
    i = 0
    began = time.monotonic()
    try:
        while not stop.is_set():
            place = communes[i % len(communes)]
            lat, lon = place.lat + rng.uniform(-0.01, 0.01), place.lon + rng.uniform(-0.01, 0.01)
            if i % 20:
                bus = f"load-bus-{i % 300:03d}"
                kind, sev, attrs = (
                    "transport.position",
                    0,
                    {
                        "vehicle": bus,
                        "speed_kmh": rng.uniform(0, 50),
                        "heading": rng.uniform(0, 359),
                    },
                )
                source = bus
            else:
                source = f"load-cam-{i % 97:02d}"
                kind, sev, attrs = "security.crowd", rng.choice((0, 1)), {"camera": source}
            event = Event.model_validate(
                {
                    "id": f"load-{i}",
                    "ts": datetime.now(UTC).isoformat(),
                    "source": source,
                    "kind": kind,
                    "severity": sev,
                    "province": province,
                    "lat": lat,
                    "lon": lon,
                    "attrs": attrs,
                }
            )
            client.publish(event.topic(prefix), event.to_json(), qos=1)
            i += 1
            # Keep the average rate; sleep only when ahead of schedule.
            ahead = i / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)
    finally:
        client.loop_stop()
        client.disconnect()


def run_bench(
    *,
    events: int,
    interval: float,
    data_dir: Path,
    db_url: str | None,
    feed: Path | None,
    feed_speed: str,
    feed_from: str | None,
    load: float,
    province: str,
    settle: float,
    progress: bool,
) -> dict[str, Any]:
    """Start the stack, open the page, publish probes, and measure."""
    from selenium import webdriver

    from bench.harness_web import Stack, chrome_options, login
    from ioc.geo import geography

    geo = geography()
    centre = geo.province(province)
    run = uuid.uuid4().hex[:6]
    published: dict[str, float] = {}
    stored: dict[str, float] = {}
    with Stack(data_dir, db_url=db_url) as stack:
        assert stack.store is not None and stack.settings is not None
        password = stack.add_user("bench", "operator", province)
        if feed is not None:
            stack.spawn(
                "replay",
                "replay",
                "--loop",
                "--rebase-time",
                "--speed",
                feed_speed,
                *(["--from", feed_from] if feed_from else []),
                "--quiet",
                str(feed),
            )
        driver = webdriver.Chrome(options=chrome_options())
        stop = threading.Event()
        try:
            login(driver, stack.base_url, "bench", password, path=f"/live?province={province}")
            driver.execute_script(OBSERVER_JS)
            time.sleep(max(2.0, settle))  # first render, background feed warming up

            def poll_store() -> None:
                # Its own connection: note when each probe became readable in the store.
                from ioc.store import open_store

                store = open_store(stack.settings.db_url)
                try:
                    since = datetime.now(UTC) - timedelta(minutes=1)
                    while not stop.is_set():
                        for e in store.find_events(
                            source=f"bench-cam-{run}", since=since, limit=events + 10
                        ):
                            stored.setdefault(e.id, time.time())
                        time.sleep(0.02)
                finally:
                    store.close()

            poller = threading.Thread(target=poll_store, daemon=True)
            poller.start()
            if load > 0:
                threading.Thread(
                    target=_load,
                    args=(
                        stack.settings.mqtt_url,
                        stack.settings.topic_prefix,
                        load,
                        province,
                        stop,
                    ),
                    daemon=True,
                ).start()
                time.sleep(3)  # let the load reach its rate before the first probe
            client = _mqtt_client(stack.settings.mqtt_url)
            began = time.time()
            stored_before = stack.store.count_events()
            try:
                for i in range(events):
                    event = _probe(run, i, province, centre.lat, centre.lon)
                    published[event.id] = time.time()
                    client.publish(
                        event.topic(stack.settings.topic_prefix), event.to_json(), qos=1
                    ).wait_for_publish(5)
                    if progress:
                        click.echo(f"\rpublished {i + 1}/{events}", nl=False, err=True)
                    time.sleep(interval * random.uniform(0.5, 1.5))
            finally:
                client.loop_stop()
                client.disconnect()
            if progress:
                click.echo("", err=True)
            deadline = time.monotonic() + 10
            seen: dict[str, dict[str, int | None]] = {}
            while time.monotonic() < deadline:
                seen = driver.execute_script("return window.__seen")
                if all(i in seen and seen[i].get("frame") for i in published):
                    break
                time.sleep(0.2)
            stop.set()
            poller.join(timeout=5)
            counts = stack.store.table_counts()
            span = time.time() - began
            background = stack.store.count_events() - stored_before - len(stored)
        finally:
            stop.set()
            driver.quit()
    visible = {i: seen[i]["frame"] / 1000 for i in published if i in seen and seen[i].get("frame")}
    to_visible = [visible[i] - published[i] for i in visible]
    to_stored = [stored[i] - published[i] for i in published if i in stored]
    stored_to_visible = [visible[i] - stored[i] for i in visible if i in stored]
    return {
        "events": events,
        "interval_s": interval,
        "backend": "postgres" if (db_url or "").startswith("postgres") else "sqlite",
        "background_feed": str(feed.name) if feed else None,
        "background_speed": feed_speed if feed else None,
        "background_from": feed_from if feed else None,
        "load_events_per_s": load,
        "stored_events_total": counts.get("events"),
        "background_events_per_s": round(background / span, 1) if span > 0 else None,
        "visible": len(visible),
        "lost": len(published) - len(visible),
        "publish_to_visible_s": summarise(to_visible),
        "publish_to_stored_s": summarise(to_stored),
        "stored_to_visible_s": summarise(stored_to_visible),
        "cpus": os.cpu_count(),
    }


def _fmt(summary: dict[str, float | None]) -> str:
    return "  ".join(
        f"{k} {v * 1000:7.0f} ms" if v is not None else f"{k}     n/a" for k, v in summary.items()
    )


@click.command("live")
@click.option(
    "--events",
    default=60,
    show_default=True,
    type=click.IntRange(min=1),
    help="Probe events to publish.",
)
@click.option(
    "--interval",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Mean seconds between probes (jittered 0.5x-1.5x, so they hit every phase "
    "of the page's 1 s poll).",
)
@click.option(
    "--feed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also replay this feed (looping, rebased) as background load.",
)
@click.option("--feed-speed", default="10", show_default=True, help="Speed of the background feed.")
@click.option(
    "--feed-from",
    default="07:00",
    show_default=True,
    help="Start the background feed at this local time of day (its busy hours).",
)
@click.option(
    "--load",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Also publish this many other events/s (positions, 5% incidents), stamped now.",
)
@click.option("--province", default="68", show_default=True, help="Province of the probes/page.")
@click.option("--db-url", help="Store URL (default: a fresh SQLite file in a temp directory).")
@click.option("--settle", default=3.0, show_default=True, help="Seconds before the first probe.")
@click.option(
    "--target-p95",
    default=2.0,
    show_default=True,
    help="Exit with status 1 when publish-to-visible p95 exceeds this (s).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_live(
    events: int,
    interval: float,
    feed: Path | None,
    feed_speed: str,
    feed_from: str,
    load: float,
    province: str,
    db_url: str | None,
    settle: float,
    target_p95: float,
    as_json: bool,
) -> None:
    """Publish-to-visible latency of the live page (broker, ingest, web, headless Chromium)."""
    with tempfile.TemporaryDirectory(prefix="ioc-bench-live-") as tmp:
        result = run_bench(
            events=events,
            interval=interval,
            data_dir=Path(tmp),
            db_url=db_url,
            feed=feed,
            feed_speed=feed_speed,
            feed_from=feed_from or None,
            load=load,
            province=province.zfill(2),
            settle=settle,
            progress=not as_json and sys.stderr.isatty(),
        )
    result["target_p95_s"] = target_p95
    p95 = result["publish_to_visible_s"]["p95"]
    result["ok"] = bool(p95 is not None and p95 <= target_p95 and result["lost"] == 0)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(
            f"live page latency, {result['visible']}/{events} probes visible "
            f"({result['backend']}, load {load:g}/s, feed: {result['background_feed'] or 'none'}, "
            f"{result['background_events_per_s']} other events/s stored meanwhile)"
        )
        click.echo(f"  publish -> visible  {_fmt(result['publish_to_visible_s'])}")
        click.echo(f"  publish -> stored   {_fmt(result['publish_to_stored_s'])}")
        click.echo(f"  stored  -> visible  {_fmt(result['stored_to_visible_s'])}")
        click.echo(f"  target p95 <= {target_p95:.1f} s: {'met' if result['ok'] else 'NOT met'}")
    if not result["ok"]:
        raise SystemExit(1)
