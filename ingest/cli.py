"""`ioc ingest`: run ingest workers until SIGTERM or Ctrl+C."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace

import click

from ingest.cluster import DEFAULT_AMQP_URL, DEFAULT_QUEUE, ClusterOptions, run_cluster_workers
from ingest.mqtt import MAX_RECEIVE_MAXIMUM
from ingest.worker import (
    DEFAULT_DRAIN_TIMEOUT_S,
    DEFAULT_GROUP,
    DEFAULT_NAME,
    DEFAULT_SESSION_EXPIRY_S,
    WorkerOptions,
    run_workers,
)
from ioc.broker import BrokerUrl
from ioc.cli import Ctx, pass_ctx
from ioc.settings import Settings, safe_url


@click.command("ingest")
@click.option(
    "-w",
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes, each subscribed to its share of the provinces (client ids "
    "NAME-IofN; NAME-1 for one). Changing N drains the previous layout's sessions.",
)
@click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="Client id prefix: workers are NAME-1ofN..NAME-NofN (NAME-1 alone). Keep it fixed "
    "(the broker keeps each worker's session and its share of messages under that id); use one "
    "name per host.",
)
@click.option(
    "--group", default=DEFAULT_GROUP, show_default=True, help="Shared subscription group."
)
@click.option(
    "--shared",
    is_flag=True,
    default=False,
    help="Use the shared subscription $share/GROUP/... (several hosts splitting the load) "
    "instead of partitions. Mosquitto 2.0 loses shared subscriptions on a restart "
    "(docs/broker.md).",
)
@click.option(
    "--batch-size", type=click.IntRange(1), help="Messages per batch [IOC_INGEST_BATCH_SIZE]."
)
@click.option(
    "--batch-ms", type=click.IntRange(1), help="Longest wait for a batch [IOC_INGEST_BATCH_MS]."
)
@click.option(
    "--receive-maximum",
    type=click.IntRange(1, MAX_RECEIVE_MAXIMUM),
    help="Unacked messages the broker may send each worker; bounds memory "
    "[IOC_INGEST_QUEUE_MAX, capped at 65535].",
)
@click.option(
    "--queue-max",
    type=click.IntRange(10),
    help="Messages a worker holds before it stops reading from the broker [IOC_INGEST_QUEUE_MAX].",
)
@click.option(
    "--session-expiry",
    "session_expiry_s",
    default=DEFAULT_SESSION_EXPIRY_S,
    show_default=True,
    type=click.IntRange(0),
    help="Seconds the broker keeps a stopped worker's session and backlog.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Prometheus port of worker 1; worker i uses PORT+i-1 (0: off) [IOC_METRICS_PORT].",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics endpoints listen on.",
)
@click.option(
    "--heartbeat",
    "heartbeat_s",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between health rows written to the store.",
)
@click.option(
    "--drain-timeout",
    "drain_timeout_s",
    default=DEFAULT_DRAIN_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(0),
    help="On SIGTERM, how long to keep retrying an unreachable store before exiting.",
)
@click.option(
    "--retire",
    "retire_index",
    type=click.IntRange(1),
    help="After scaling down --shared workers: resume NAME-INDEX's session, unsubscribe, store "
    "what it still holds, end the session and exit. A stopped worker's session otherwise keeps "
    "receiving its share of a shared subscription. (Partitioned layouts drain themselves.)",
)
@click.option(
    "--engine",
    type=click.Choice(["mosquitto", "rabbitmq"]),
    default="mosquitto",
    show_default=True,
    help="mosquitto: MQTT sessions on one broker (any MQTT broker; docs/broker.md). rabbitmq: "
    "competing AMQP consumers of one replicated quorum queue fed by a RabbitMQ cluster's MQTT "
    "plugin, the path past one broker (docs/scale-out.md).",
)
@click.option(
    "--amqp-url",
    "amqp_urls",
    multiple=True,
    envvar="IOC_AMQP_URLS",
    help="rabbitmq engine: AMQP URL of a cluster node; repeat for each node (tried in turn "
    "after a failure) [IOC_AMQP_URLS, space-separated; default amqp://guest:guest@127.0.0.1:5672].",
)
@click.option(
    "--queue",
    default=DEFAULT_QUEUE,
    show_default=True,
    help="rabbitmq engine: the quorum queue every worker consumes.",
)
@pass_ctx
def ingest(
    ctx: Ctx,
    workers: int,
    retire_index: int | None,
    engine: str,
    amqp_urls: tuple[str, ...],
    queue: str,
    **options: object,
) -> None:
    """Subscribe to events, validate, store in batches, ack after commit."""
    settings = ctx.settings
    if engine == "rabbitmq":
        _run_rabbitmq(settings, workers, amqp_urls, queue, options)
        return
    try:
        broker = BrokerUrl.parse(settings.mqtt_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    root = logging.getLogger()
    opts = WorkerOptions.from_settings(settings, log_level=root.level, **options)
    if retire_index is not None:
        opts = replace(opts, index=retire_index, retire=True, shared=True)
        click.echo(f"ingest: retiring {opts.client_id} on {broker}", err=True)
        sys.exit(run_workers(settings, opts, 1))
    first, last = (
        (f"{opts.name}-1", f"{opts.name}-{workers}")
        if opts.shared or workers == 1
        else (f"{opts.name}-1of{workers}", f"{opts.name}-{workers}of{workers}")
    )
    click.echo(
        f"ingest: {workers} worker(s) {first}..{last} on {broker} "
        f"-> {safe_url(settings.db_url)}; Ctrl+C or SIGTERM drains and stops",
        err=True,
    )
    sys.exit(run_workers(settings, opts, workers))


def _run_rabbitmq(
    settings: Settings,
    workers: int,
    amqp_urls: tuple[str, ...],
    queue: str,
    options: dict[str, object],
) -> None:
    """`ioc ingest --engine rabbitmq`: N competing consumers of the replicated queue."""
    urls = tuple(u for url in amqp_urls for u in url.split()) or (DEFAULT_AMQP_URL,)
    given = {k: v for k, v in options.items() if v is not None}
    queue_max = int(given.get("queue_max") or settings.ingest_queue_max)
    opts = ClusterOptions(
        amqp_urls=urls,
        queue=queue,
        name=str(given.get("name", "ioc-ingest")),
        batch_size=int(given.get("batch_size") or settings.ingest_batch_size),
        batch_ms=int(given.get("batch_ms") or settings.ingest_batch_ms),
        prefetch=int(given.get("receive_maximum") or queue_max),
        metrics_port=int(given.get("metrics_port") or settings.metrics_port),
        metrics_host=str(given.get("metrics_host", "127.0.0.1")),
        heartbeat_s=float(given.get("heartbeat_s", 5.0)),  # type: ignore[arg-type]
        drain_timeout_s=float(given.get("drain_timeout_s", 30.0)),  # type: ignore[arg-type]
        log_level=logging.getLogger().level,
    )
    click.echo(
        f"ingest: {workers} consumer(s) of quorum queue {queue} on "
        f"{', '.join(safe_url(u) for u in urls)} -> {safe_url(settings.db_url)}; "
        "Ctrl+C or SIGTERM drains and stops",
        err=True,
    )
    sys.exit(run_cluster_workers(settings, opts, workers))
