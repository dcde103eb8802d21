"""`ioc demo`: the whole product on its embedded default, in one command.

Starts a broker (Mosquitto with the shipped config if installed, else the
embedded amqtt broker), an ingest worker, a looping replay of the Lâm Đồng
sample feed rebased to now, and the Dash app. Each part runs as the same
`ioc` subcommand a user would run, so the demo exercises the real pipeline.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import click

from ioc.geo import geography
from ioc.process import stop_on_sigterm
from ioc.settings import Settings

logger = logging.getLogger(__name__)

DEMO_FEED = "lam-dong-68.jsonl.gz"
DEMO_USERS = (
    ("admin", "admin", None),
    ("vanhanh", "operator", "68"),
    ("lanhdao", "leader", None),
    ("kysu", "engineer", None),
)


def demo_feed_path(name: str = DEMO_FEED) -> Path:
    """Path of a feed shipped in the sample_feeds package data."""
    return Path(str(resources.files("sample_feeds").joinpath(name)))


def ensure_demo_users(settings: Settings) -> Path:
    """Create the demo accounts once, with random passwords written to data_dir (never the repo)."""
    from ioc.auth import hash_password
    from ioc.store import open_store

    creds = settings.data_dir / "demo-credentials.txt"
    store = open_store(settings.db_url, migrate=True)
    try:
        if store.list_users():
            return creds
        lines = ["# Demo accounts created by `ioc demo` (local only; delete this file to rotate)."]
        for username, role, province in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            store.add_user(username, hash_password(password), role, province)
            scope = f" (tỉnh {province})" if province else ""
            lines.append(f"{username:<10} {password}  {role}{scope}")
        store.append_audit("ioc-demo", "user_add", details={"users": [u for u, _, _ in DEMO_USERS]})
    finally:
        store.close()
    creds.parent.mkdir(parents=True, exist_ok=True)
    creds.write_text("\n".join(lines) + "\n")
    creds.chmod(0o600)
    return creds


# Provinces whose synthetic village and camera registers the demo generates at first start:
# all of them (about 10 s), so the programmes page has national progress, not one province's.
DEMO_REGISTER_PROVINCES = tuple(sorted(geography().provinces))
# Months of synthetic history for every province, written once at first start (issue 16).
DEMO_HISTORY_DAYS = 90
DEMO_HISTORY_EVENTS = 300_000


def ensure_demo_registers(settings: Settings) -> None:
    """Generate the synthetic registers once (`ioc registers generate`, about a second each)."""
    from ioc.store import open_store

    store = open_store(settings.db_url, migrate=True)
    try:
        if store.programme_counts(by="province") or store.camera_summary().places:
            return
    finally:
        store.close()
    args = ["registers", "generate", "--seed", "1"]
    for code in DEMO_REGISTER_PROVINCES:
        args += ["--province", code]
    _first_start_step(settings, "registers", args)


def ensure_demo_history(
    settings: Settings, events: int | None = None, feed: Path | None = None
) -> None:
    """Write the months of history once (`ioc feeds history`), ending now where the replay starts.

    The command keeps a marker in the store, so a restart adds nothing (about a second).
    events: how many (None: DEMO_HISTORY_EVENTS; 0: no history). feed: the replayed feed,
    whose cameras make its province's history (the wall then shows no history-only cameras).
    """
    events = DEMO_HISTORY_EVENTS if events is None else events
    if events == 0:
        return
    click.echo(f"  history   {DEMO_HISTORY_DAYS} days for every province, once (under a minute)…")
    args = ["feeds", "history", "--days", str(DEMO_HISTORY_DAYS)]
    args += ["--events", str(events)]
    if feed is not None:
        args += ["--cameras-of", str(feed)]
    _first_start_step(settings, "history", args)


def _first_start_step(settings: Settings, label: str, args: list[str]) -> None:
    """Run one `ioc` command of the first start; say what it did, or warn and go on."""
    done = subprocess.run(
        _ioc(settings, settings.mqtt_url, *args), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        logger.warning("demo %s failed: %s", label, done.stderr[-500:])
    else:
        click.echo(f"  {label:<9} {done.stdout.strip()}")


def _ioc(settings: Settings, mqtt_url: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ioc",
        "--db-url",
        settings.db_url,
        "--mqtt-url",
        mqtt_url,
        "--data-dir",
        str(settings.data_dir),
        *args,
    ]


def run_demo(
    settings: Settings,
    *,
    feed: Path | None = None,
    speed: str = "1",
    port: int | None = None,
    start: str = "07:00",
    history_events: int | None = None,
) -> None:
    """Run broker, ingest, replay and web until interrupted."""
    from ioc.broker import embedded_broker
    from ioc.store import open_store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_store(settings.db_url, migrate=True).close()
    creds = ensure_demo_users(settings)
    ensure_demo_registers(settings)  # issue 16: programme registers with months of progress
    feed = feed or demo_feed_path()
    if not feed.is_file():
        raise click.ClickException(f"sample feed {feed} not found")
    # Issue 16: KPIs with months behind them in every province; the replayed province's
    # history comes from the feed's own cameras.
    ensure_demo_history(settings, history_events, feed)

    broker = None
    if settings.mqtt_url == "embedded":
        broker = embedded_broker(settings.data_dir)
        broker.start()
        mqtt_url = broker.url
    else:
        mqtt_url = settings.mqtt_url
    web_port = str(port or settings.http_port)
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    parts = {
        "ingest": _ioc(settings, mqtt_url, "ingest"),
        # Starting in the morning rush keeps the demo lively at any hour; timestamps are
        # rebased to now either way ("now" follows the clock's time of day instead).
        "replay": _ioc(
            settings,
            mqtt_url,
            "replay",
            "--loop",
            "--rebase-time",
            "--from",
            start,
            "--speed",
            speed,
            "--quiet",
            str(feed),
        ),
        "web": _ioc(settings, mqtt_url, "serve", "--host", settings.http_host, "--port", web_port),
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stop_on_sigterm()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        for name, cmd in parts.items():
            out = open(log_dir / f"{name}.log", "ab")
            procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            out.close()
        click.echo(f"IOC demo running on http://{settings.http_host}:{web_port}")
        from ioc.broker import BrokerUrl

        shown = mqtt_url if broker else str(BrokerUrl.parse(mqtt_url))  # never a password
        click.echo(f"  broker  {shown} ({broker.kind if broker else 'external'})")
        if broker is not None:
            # The demo's own broker has no accounts: say so, so nobody mistakes it for production.
            click.echo(
                "          ANONYMOUS: no device accounts or ACL, loopback only (demo); "
                "`ioc broker` runs the secured one (docs/security.md)"
            )
        click.echo(f"  store   {settings.db_url}")
        click.echo(
            f"  feed    {feed.name}, from {start} feed time, looping, rebased to now, speed {speed}"
        )
        click.echo(f"  logins  {creds}")
        click.echo(f"  logs    {log_dir}/")
        click.echo("Ctrl+C to stop.")
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    tail = (log_dir / f"{name}.log").read_text(errors="replace")[-1500:]
                    raise click.ClickException(
                        f"{name} exited with code {proc.returncode}; last log lines:\n{tail}"
                    )
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping…")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if broker is not None:
            broker.stop()
