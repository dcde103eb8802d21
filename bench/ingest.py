"""`ioc bench ingest`: raw QoS 1 delivery vs the full ingest pipeline, in one run, one broker.

Both phases publish the same N realistic events with the same lean publisher
(ingest.publisher) to the same broker, by default a Mosquitto started here with
the shipped config on a free port:

- raw: a trivial subscriber (stock paho-mqtt, QoS 1, auto-ack, counts messages)
  in its own process; rate = received / (last arrival - first publish);
- pipeline: `ioc ingest` as a user runs it, into the chosen store; rate =
  committed / (last commit - first publish); stored rows are then counted in the
  store itself.

Each phase also reports CPU microseconds per message (bench.cpu, from /proc): raw =
broker + trivial subscriber per message received; pipeline = broker + every ingest
process + the PostgreSQL backends serving the bench database (pg_stat_activity) per
message stored. Shared server processes (WAL writer, checkpointer) and the publisher
are not counted. Cost per message decides how many machines a deployment needs.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from bench.cpu import CpuMeter, per_message_us, process_tree
from bench.harness_ingest import WorkerProcess
from bench.loadgen import make_events, to_wire
from ingest.publisher import FastPublisher, PublishError, publish_with_paho
from ioc.broker import (
    BrokerConnectError,
    BrokerUrl,
    MosquittoBroker,
    connect_and_wait,
    mqtt_client,
)
from ioc.settings import safe_url
from ioc.store import StoreError, open_store

logger = logging.getLogger(__name__)

# Event timestamps of one run fall in this window before its start, so the run's rows
# can be counted in a store that already holds other data (runs never overlap).
EVENT_WINDOW = timedelta(seconds=2)
BENCH_ROOT = "iocbench"
STALL_S = 20.0


def _trivial_subscriber(url: str, topic: str, n: int, conn: Any) -> None:
    """Count QoS 1 messages with a stock paho client; report (count, first, last) arrival."""
    import paho.mqtt.client as mqtt

    broker = BrokerUrl.parse(url)
    state = {"count": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if not state["count"]:
            state["first"] = now
        state["count"] += 1
        state["last"] = now
        if state["count"] >= n:
            done.set()

    client = mqtt_client(broker, f"bench-raw-{uuid.uuid4().hex[:8]}")
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_connect = lambda c, *args: c.subscribe(topic, qos=1)
    try:
        connect_and_wait(client, broker)
    except BrokerConnectError as exc:
        conn.send(("error", str(exc)))
        return
    if not subscribed.wait(30):
        conn.send(("error", "trivial subscriber not subscribed after 30 s"))
        return
    cpu0 = time.process_time()
    conn.send(("ready", None))
    seen = 0
    while not done.wait(STALL_S):
        if state["count"] == seen:
            break  # no progress: the rest is lost
        seen = state["count"]
    cpu = time.process_time() - cpu0
    client.disconnect()
    client.loop_stop()
    conn.send(("done", (state["count"], state["first"], state["last"], cpu)))


def publish(url: str, wire: list[tuple[str, bytes]], publisher: str, client_id: str) -> int:
    """Publish with the chosen publisher; the number of messages the broker acknowledged."""
    if publisher == "paho":
        return publish_with_paho(url, wire, client_id=client_id)
    with FastPublisher(url, client_id=client_id) as pub:
        return pub.publish(wire)


def measure_raw(
    url: str, prefix: str, wire: list[tuple[str, bytes]], publisher: str = "fast",
    pub_url: str | None = None, broker_pid: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Publish wire to a trivial subscriber in another process; delivery rate, losses, and
    the CPU seconds of the broker (when its pid is known) and of the subscriber."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_trivial_subscriber, args=(url, f"{prefix}/#", len(wire), child))
    proc.start()
    try:
        kind, detail = parent.recv()
        if kind != "ready":
            raise click.ClickException(str(detail))
        broker_cpu = CpuMeter(lambda: [broker_pid] if broker_pid else []).start()
        t0 = time.monotonic()
        published = publish(pub_url or url, wire, publisher, f"bench-pub-{uuid.uuid4().hex[:8]}")
        publish_s = time.monotonic() - t0
        _, (count, _first, last, subscriber_cpu) = parent.recv()
        broker_cpu.stop()
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    seconds = max(last - t0, 1e-9)
    return {
        "published": published,
        "received": count,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(count / seconds, 1),
        "publish_msgs_per_s": round(published / publish_s, 1),
        "cpu_s": {
            "broker": broker_cpu.seconds,
            "subscriber": subscriber_cpu,
        },
    }


def measure_pipeline(
    url: str, db_url: str, prefix: str, wire: list[tuple[str, bytes]], *, workers: int,
    args: list[str], log_path: Path, publisher: str = "fast", pub_url: str | None = None,
    broker_pid: int | None = None, server_pids: Callable[[], list[int]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Publish wire to `ioc ingest`; rate until the last commit, the worker's counters, and
    the CPU seconds of the broker, the ingest processes and the database server backends."""
    run = uuid.uuid4().hex[:8]
    worker = WorkerProcess(
        db_url=db_url, mqtt_url=url, workers=workers, name=f"bench-{run}",
        group=f"bench-{run}", topic_prefix=prefix,
        # A short expiry: an external broker should not keep bench sessions for a week.
        args=["--session-expiry", "300", *args], log_path=log_path,
    ).start()  # fmt: skip
    try:
        worker.wait_ready(timeout=120)
        assert worker.proc is not None
        root = worker.proc.pid
        meters = {
            "broker": CpuMeter(lambda: [broker_pid] if broker_pid else []),
            "workers": CpuMeter(lambda: process_tree(root)),
            "database": CpuMeter(server_pids or list),
        }
        for meter in meters.values():
            meter.start()
        n = len(wire)
        t0 = time.monotonic()
        published = publish(pub_url or url, wire, publisher, f"bench-pub-{run}")
        publish_s = time.monotonic() - t0
        done_at = None
        last_progress, progress_at = -1.0, time.monotonic()
        while True:
            scraped = worker.per_worker()
            m = worker.metrics(scraped)
            handled = sum(
                m.get(f"ioc_ingest_{k}_total", 0) for k in ("written", "duplicates", "dead_letters")
            )
            if handled >= n and m.get("ioc_ingest_queue_depth", 1) == 0:
                # The last commit happened `age` seconds before this scrape.
                age = min(w.get("ioc_ingest_last_commit_age_seconds", 0.0) for w in scraped)
                done_at = time.monotonic() - age
                break
            if handled != last_progress:
                last_progress, progress_at = handled, time.monotonic()
            elif time.monotonic() - progress_at > STALL_S:
                break
            if not worker.alive:
                raise click.ClickException(f"ingest exited:\n{worker.log_tail()}")
            # Coarse polling is enough: the end time comes from the last commit's age.
            time.sleep(0.25)
        for meter in meters.values():
            meter.stop()
        end = done_at if done_at is not None else progress_at
        seconds = max(end - t0, 1e-9)
        return {
            "published": published,
            "committed": int(m.get("ioc_ingest_written_total", 0)),
            "redelivered": int(m.get("ioc_ingest_duplicates_total", 0)),
            "dead_letters": int(m.get("ioc_ingest_dead_letters_total", 0)),
            "store_errors": int(m.get("ioc_ingest_store_errors_total", 0)),
            "batches": int(m.get("ioc_ingest_batches_total", 0)),
            "seconds": round(seconds, 3),
            "msgs_per_s": round(int(m.get("ioc_ingest_written_total", 0)) / seconds, 1),
            "publish_msgs_per_s": round(published / publish_s, 1),
            "complete": done_at is not None,
            "cpu_s": {
                "broker": meters["broker"].seconds,
                "workers": meters["workers"].seconds,
                "database": meters["database"].seconds,
            },
        }
    finally:
        if worker.alive:
            worker.terminate(60)


def cpu_figures(
    raw: dict[str, float | None], received: int, pipe: dict[str, float | None], stored: int
) -> dict[str, float | None]:
    """CPU microseconds per message of each process group, and in total, for both phases.

    Raw: broker + trivial subscriber, per message received. Pipeline: broker + ingest
    processes + database backends, per message stored. A part that could not be measured
    (external broker, SQLite has no server) is None and left out of the total; the
    publisher, the same in both phases, is not counted.
    """
    out: dict[str, float | None] = {}
    for phase, parts, n in (("raw", raw, received), ("pipeline", pipe, stored)):
        for part, seconds in parts.items():
            out[f"{phase}_cpu_{part}_us_per_msg"] = per_message_us(seconds, n)
        total = sum(v for v in parts.values() if v is not None)
        out[f"{phase}_cpu_us_per_msg"] = per_message_us(total, n)
    r, p = out["raw_cpu_us_per_msg"], out["pipeline_cpu_us_per_msg"]
    out["cpu_ratio"] = round(p / r, 2) if r and p else None
    return out


def _secure_bench_accounts(broker: MosquittoBroker, devices: int) -> tuple[str, str]:
    """Accounts and ACL as in production, plus `devices` device entries: (ingest, replay) URLs."""
    from ioc.broker.accounts import AccountRegistry

    # The bench publishes under its own prefix (iocbench/...): the ACL is rendered for it.
    registry = AccountRegistry(broker.data_dir, prefix=BENCH_ROOT)
    for i in range(devices):
        registry.add_device("68", f"bench-cam-{i}")
    ingest, replay = registry.set_service("ingest"), registry.set_service("replay")
    registry.save()
    broker.reload()
    url = ingest.url(broker.host, broker.port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _accepts(url):
        time.sleep(0.05)
    return url, replay.url(broker.host, broker.port)


def _accepts(url: str) -> bool:
    try:
        with FastPublisher(url, client_id="bench-probe", reconnect_timeout_s=0) as pub:
            pub.publish([])  # connects: raises PublishError until the reload took effect
            return True
    except PublishError:
        return False


def run_bench(
    messages: int, *, broker_url: str | None, db_url: str | None, workers: int,
    batch_size: int | None, batch_ms: int | None, keep: bool = False, publisher: str = "fast",
    secure_devices: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run both phases and return the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="ioc-bench-ingest-"))
    broker = None
    pub_url = None
    if broker_url is None:
        broker = MosquittoBroker(tmp / "mosquitto", secure=secure_devices is not None).start()
        broker_url = broker.url
        if secure_devices is not None:
            broker_url, pub_url = _secure_bench_accounts(broker, secure_devices)
    db_url = db_url or f"sqlite:///{tmp / 'bench.db'}"
    try:
        if db_url.startswith(("postgresql://", "postgres://")):
            from ioc.store.postgres import create_database

            create_database(db_url)
        store = open_store(db_url, migrate=True)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        run_id = f"bench-{uuid.uuid4().hex[:10]}"
        prefix = f"{BENCH_ROOT}/{run_id}"
        start = datetime.now(UTC)
        events = make_events(messages, run_id=run_id, now=start, window=EVENT_WINDOW)
        wire = to_wire(events, prefix)
        window = {"since": start - EVENT_WINDOW, "until": start + timedelta(milliseconds=1)}
        before = store.count_events(**window)
        broker_pid = broker.proc.pid if broker is not None and broker.proc is not None else None
        raw = measure_raw(
            broker_url, prefix, wire, publisher, pub_url=pub_url, broker_pid=broker_pid
        )
        args = []
        if batch_size:
            args += ["--batch-size", str(batch_size)]
        if batch_ms:
            args += ["--batch-ms", str(batch_ms)]
        pipe = measure_pipeline(
            broker_url, db_url, prefix, wire, workers=workers, args=args,
            log_path=tmp / "ingest.log", publisher=publisher, pub_url=pub_url,
            broker_pid=broker_pid, server_pids=store.server_pids,
        )  # fmt: skip
        stored = store.count_events(**window) - before
        published = pipe["published"]
        return {
            "messages": messages,
            "published": published,
            "raw_received": raw["received"],
            "raw_msgs_per_s": raw["msgs_per_s"],
            "pipeline_msgs_per_s": pipe["msgs_per_s"],
            "ratio": round(pipe["msgs_per_s"] / raw["msgs_per_s"], 3)
            if raw["msgs_per_s"]
            else None,
            "stored": stored,
            "lost": max(0, published - stored),
            "duplicates": max(0, stored - published),
            "redelivered": pipe["redelivered"],
            "dead_letters": pipe["dead_letters"],
            "store_errors": pipe["store_errors"],
            **cpu_figures(raw["cpu_s"], raw["received"], pipe["cpu_s"], stored),
            "raw_seconds": raw["seconds"],
            "pipeline_seconds": pipe["seconds"],
            "pipeline_complete": pipe["complete"],
            "publisher": publisher,
            "publish_msgs_per_s": raw["publish_msgs_per_s"],
            "payload_bytes_avg": round(sum(len(p) for _, p in wire) / max(len(wire), 1), 1),
            "workers": workers,
            "batches": pipe["batches"],
            "store_url": safe_url(db_url),
            "store_backend": store.backend,
            "broker": str(BrokerUrl.parse(broker_url)),  # never the password
            "broker_config": "shipped ioc/broker/mosquitto.conf" if broker else "external",
            "broker_accounts": (
                f"password_file + acl_file, {secure_devices} devices"
                if broker and secure_devices is not None
                else "anonymous (loopback)"
                if broker
                else "external"
            ),
            "cpus": os.cpu_count(),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        store.close()
        if broker is not None:
            broker.stop()
        if not keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            click.echo(f"kept {tmp}", err=True)


@click.command("ingest")
@click.option("-n", "--messages", default=20000, show_default=True, help="Events to publish.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--broker", "broker_url",
    help="Use this broker (mqtt://host:port) instead of starting Mosquitto with the shipped config.",
)  # fmt: skip
@click.option(
    "--db-url",
    help="Store to fill (default: a fresh SQLite file). A postgresql:// database is created "
    "if missing and migrated; rows of earlier runs are left alone and not counted.",
)
@click.option("-w", "--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--batch-size", type=click.IntRange(1), help="Ingest batch size (default: settings).")
@click.option("--batch-ms", type=click.IntRange(1), help="Ingest batch wait (default: settings).")
@click.option(
    "--publisher",
    type=click.Choice(["fast", "paho"]),
    default="fast",
    show_default=True,
    help="fast: pipelined raw-socket QoS 1 publisher (a few us per message); paho: a stock "
    "paho-mqtt client, which needs most of a core for ~8,000 msg/s.",
)
@click.option("--keep", is_flag=True, help="Keep the temporary directory (broker data, logs).")
@click.option(
    "--secure-devices",
    type=click.IntRange(0),
    help="Start the broker with accounts and ACL (as `ioc broker`) and this many registered "
    "devices; publish as the replay account, ingest as the ingest account.",
)
def bench_ingest(
    messages: int, as_json: bool, broker_url: str | None, db_url: str | None, workers: int,
    batch_size: int | None, batch_ms: int | None, publisher: str, keep: bool,
    secure_devices: int | None,
) -> None:  # fmt: skip
    """Raw QoS 1 delivery vs the full ingest pipeline into a store, same broker, same feed."""
    result = run_bench(
        messages, broker_url=broker_url, db_url=db_url, workers=workers,
        batch_size=batch_size, batch_ms=batch_ms, keep=keep, publisher=publisher,
        secure_devices=secure_devices,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        click.echo(
            f"{key:<34} {value:,}" if isinstance(value, int | float) else f"{key:<34} {value}"
        )
