"""`ioc feeds generate|info|validate`, `ioc replay` and `ioc record`."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from ioc.cli import Ctx, pass_ctx
from sample_feeds.feedfile import FeedError, parse_ts
from sample_feeds.mqtt import BrokerError


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT/SIGTERM, so the command ends cleanly and prints its summary."""
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _speed(value: str) -> float | None:
    if value.lower() == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise click.BadParameter(f"expected a number or 'max', got {value!r}") from None
    if speed <= 0:
        raise click.BadParameter("must be positive")
    return speed


# --- feeds ------------------------------------------------------------------------


@click.group()
def feeds() -> None:
    """Generate, inspect and validate sample feed files."""


@feeds.command("generate")
@click.option("--province", required=True, help="2-digit province code, e.g. 68 (Lâm Đồng).")
@click.option("--hours", default=24.0, show_default=True, type=click.FloatRange(min=0.01, max=24))
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same file.")
@click.option(
    "--date", "day", default="2026-11-20", show_default=True, help="Local day (YYYY-MM-DD)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file; .gz compresses.",
)
@click.option("--quiet", is_flag=True, help="No statistics.")
def feeds_generate(
    province: str, hours: float, seed: int, day: str, out: Path, quiet: bool
) -> None:
    """Generate a deterministic synthetic day of a province's IOC traffic."""
    from ioc.geo import geography
    from sample_feeds.generator import generate_feed

    code = province.zfill(2)
    if not geography().is_province(code):
        raise click.BadParameter(f"unknown province code {province!r}", param_hint="--province")
    try:
        local_day = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {day!r}", param_hint="--date") from None
    stats = generate_feed(code, out, hours=hours, seed=seed, day=local_day)
    if not quiet:
        click.echo(stats.report())


@feeds.command("info")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def feeds_info(files: tuple[str, ...], as_json: bool) -> None:
    """Header, span and message counts per kind of feed files."""
    from sample_feeds.stats import feed_stats

    for path in files:
        try:
            stats = feed_stats(path)
        except FeedError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            json.dumps(stats.as_dict(), ensure_ascii=False, indent=2) if as_json else stats.report()
        )


@feeds.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--max-errors", default=20, show_default=True, help="Errors shown per file.")
def feeds_validate(files: tuple[str, ...], max_errors: int) -> None:
    """Check every message against the Event and DeviceStatus models and the topic scheme."""
    from sample_feeds.stats import validate_feed

    bad = 0
    for path in files:
        try:
            result = validate_feed(path, max_errors=max_errors)
        except FeedError as exc:
            raise click.ClickException(str(exc)) from None
        for error in result.errors:
            click.echo(f"{path}: {error}", err=True)
        click.echo(f"{path}: {result.valid:,} valid, {result.invalid:,} invalid")
        bad += result.invalid
    if bad:
        sys.exit(1)


@feeds.command("history")
@click.option(
    "--events", "n_events", default=300_000, show_default=True, type=click.IntRange(min=1)
)
@click.option("--days", default=90, show_default=True, type=click.IntRange(min=1, max=400))
@click.option("--end", help="End of the history (ISO 8601 with zone; default: now).")
@click.option("--seed", default=16, show_default=True, type=int, help="Same seed, same world.")
@click.option(
    "--cameras-of",
    "feed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A feed whose cameras make its province's history (the feed a demo replays).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_ctx
def feeds_history(
    ctx: Ctx, n_events: int, days: int, end: str | None, seed: int, feed: Path | None, as_json: bool
) -> None:
    """Write months of SYNTHETIC history for every province into the store, once.

    Through the ingest write path (KPI state, devices, alarms), then past alarms handled;
    a store that already has its history is left as it is.
    """
    from datetime import UTC

    from ioc.store import StoreError, open_store
    from sample_feeds.history import feed_cameras, write_history

    try:
        until = parse_ts(end) if end else datetime.now(UTC)
    except (FeedError, ValueError):
        raise click.BadParameter(f"not an ISO 8601 time with zone: {end!r}", "--end") from None
    cameras = None
    if feed is not None:
        try:
            province, cams = feed_cameras(feed)
        except FeedError as exc:
            raise click.ClickException(str(exc)) from None
        cameras = {province: cams} if province and cams else None
    try:
        store = open_store(ctx.settings.db_url, migrate=True)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        report = write_history(store, n_events, days=days, end=until, seed=seed, cameras=cameras)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    elif report.skipped:
        click.echo("history already written to this store; nothing added")
    else:
        click.echo(
            f"{report.inserted:,} events over {days} days ({report.since} .. {report.until}) "
            f"in {report.seconds:,.1f} s; {report.alarms_opened:,} alarms, "
            f"{report.alarms_handled:,} handled (synthetic, seed {seed})"
        )


# --- replay -------------------------------------------------------------------------


def _progress_and_summary(command: Callable[..., Any]) -> Callable[..., Any]:
    """--quiet (no progress bar) and --json (the summary as JSON) of a long-running command."""
    command = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")(
        command
    )
    return click.option("--quiet", is_flag=True, help="No progress bar.")(command)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--speed",
    default="1",
    show_default=True,
    help="Feed seconds per wall second, or 'max' for as fast as the broker acks.",
)
@click.option("--loop", is_flag=True, help="Start over at the end (until interrupted).")
@click.option(
    "--loops",
    type=click.IntRange(min=1),
    default=None,
    help="With --loop: stop after this many passes.",
)
@click.option(
    "--from",
    "start",
    metavar="HH:MM",
    help="Start at this time of day (feed time zone), or 'now' for the clock's time of day.",
)
@click.option("--until", metavar="HH:MM", help="Stop at this time of day (feed time zone).")
@click.option(
    "--kinds",
    metavar="PATTERN",
    help="Comma-separated globs over kinds, e.g. 'security.*,!security.plate_read'; "
    "'status' is device status.",
)
@click.option(
    "--rebase-time",
    "rebase",
    is_flag=True,
    help="Shift timestamps so the first message is now (ids get a per-pass suffix).",
)
@click.option(
    "--rebase-at",
    metavar="ISO",
    help="Like --rebase-time but to this instant "
    "(repeatable: the same instant publishes identical messages).",
)
@_progress_and_summary
@pass_ctx
def replay(
    ctx: Ctx,
    files: tuple[str, ...],
    speed: str,
    loop: bool,
    loops: int | None,
    start: str | None,
    until: str | None,
    kinds: str | None,
    rebase: bool,
    rebase_at: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Publish feed files to the configured broker, keeping their relative timing."""
    from sample_feeds.replay import replay as run_replay

    anchor: datetime | None = None
    if rebase_at:
        try:
            anchor = parse_ts(rebase_at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--rebase-at") from None
    settings = ctx.settings
    from ioc.replays import StatusWriter

    # The Replay page shows every running replay, the demo's included, from this record.
    status = StatusWriter(
        settings.data_dir,
        Path(files[0]),
        speed=speed,
        loop=loop,
        rebase=rebase or rebase_at is not None,
        start=start,
        until=until,
    )
    with _stop_on_signals() as stop:
        try:
            summary = run_replay(
                files,
                settings.mqtt_url,
                speed=_speed(speed),
                loop=loop,
                max_loops=loops if loop else 1,
                start=start,
                until=until,
                kinds=kinds,
                rebase=rebase,
                rebase_at=anchor,
                prefix=settings.topic_prefix,
                progress=not quiet,
                stop=stop,
                on_progress=lambda s: status.progress(s.messages, s.feed_seconds, s.loops + 1),
            )
        except (FeedError, BrokerError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            status.close()
    click.echo(json.dumps(summary.as_dict()) if as_json else summary.report())
    if summary.failed or summary.unacked:
        sys.exit(1)


# --- record ---------------------------------------------------------------------------


@click.command()
@click.option(
    "--topics",
    "topics",
    multiple=True,
    metavar="PATTERN",
    help="MQTT topic filter(s), repeatable or comma-separated [default: {prefix}/#].",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Feed file to write; .gz compresses.",
)
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds."
)
@click.option("--count", "max_messages", type=click.IntRange(min=1), help="Stop after N messages.")
@click.option(
    "--idle",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after S seconds without a message.",
)
@_progress_and_summary
@pass_ctx
def record(
    ctx: Ctx,
    topics: tuple[str, ...],
    out: Path,
    duration: float | None,
    max_messages: int | None,
    idle: float | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Capture live traffic from the configured broker into a feed file (Ctrl-C stops)."""
    from sample_feeds.record import record as run_record

    settings = ctx.settings
    filters = [t.strip() for item in topics for t in item.split(",") if t.strip()]
    filters = filters or [f"{settings.topic_prefix}/#"]

    def ready() -> None:
        # Scripts (and the tests) wait for this line before they start publishing.
        click.echo(f"recording {', '.join(filters)} into {out}", err=True)
        sys.stderr.flush()

    with _stop_on_signals() as stop:
        try:
            summary = run_record(
                settings.mqtt_url,
                out,
                topics=filters,
                duration=duration,
                max_messages=max_messages,
                idle=idle,
                stop=stop,
                on_ready=ready,
                progress=not quiet,
                tz=settings.timezone,
            )
        except (BrokerError, ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(summary.as_dict()) if as_json else summary.report())
