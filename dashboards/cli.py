"""`ioc serve`: the web app; one process (Flask's threaded server) or gunicorn workers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ioc.cli import Ctx, pass_ctx

GUNICORN_CONF = Path(__file__).resolve().parent / "gunicorn.conf.py"


def pool_size(threads: int) -> int:
    """PostgreSQL connections per worker: one per request thread, plus one spare.

    A thread never waits for a connection another thread of its process holds; the
    server sees workers x (threads + 1) connections at most (size max_connections for it).
    """
    return threads + 1


def gunicorn_command(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    secure_cookies: bool,
    stale_after: int,
) -> tuple[list[str], dict[str, str]]:
    """The gunicorn command line and the IOC_WEB_* variables gunicorn.conf.py reads."""
    factory = f"dashboards.wsgi:create_server(stale_after_s={stale_after!r}"
    factory += ", secure_cookies=True)" if secure_cookies else ")"
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), factory]
    env = {
        "IOC_WEB_BIND": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "IOC_WEB_WORKERS": str(workers),
        "IOC_WEB_THREADS": str(threads),
        "IOC_WEB_POOL_SIZE": str(pool_size(threads)),
    }
    return argv, env


@click.command("serve")
@click.option("--host", default=None, help="Listen address (default: settings http_host).")
@click.option("--port", default=None, type=int, help="Port (default: settings http_port).")
@click.option("--debug", is_flag=True, help="Dash dev tools and reloading; never in production.")
@click.option("--secure-cookies", is_flag=True, help="Mark cookies Secure (behind HTTPS).")
@click.option(
    "--stale-after",
    default=60,
    show_default=True,
    type=int,
    help="Seconds without a new event before the freshness badge turns red.",
)
@click.option(
    "--workers",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=64),
    help="0: one process (Flask's server). N: gunicorn with N worker processes "
    "(dashboards/gunicorn.conf.py), for production.",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(min=1, max=256),
    help="Request threads per gunicorn worker (with --workers).",
)
@pass_ctx
def serve(
    ctx: Ctx,
    host: str | None,
    port: int | None,
    debug: bool,
    secure_cookies: bool,
    stale_after: int,
    workers: int,
    threads: int,
) -> None:
    """Run the dashboard web app (Dash) on the configured store."""
    settings = ctx.settings
    host = host or settings.http_host
    port = port or settings.http_port
    if workers:
        if debug:
            raise click.UsageError("--debug is for the one-process server, not --workers")
        argv, env = gunicorn_command(
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            secure_cookies=secure_cookies,
            stale_after=stale_after,
        )
        # The workers build their settings from the environment: pass on what the command
        # line of `ioc` set (--db-url, --data-dir, ...), never a secret on argv.
        for key, value in ctx.overrides.items():
            if value is not None:
                env[f"IOC_{key.upper()}"] = str(value)
        click.echo(
            f"IOC dashboard on http://{host}:{port} (gunicorn, {workers} workers x {threads} "
            f"threads, store {settings.db_url})"
        )
        sys.stdout.flush()
        os.execve(argv[0], argv, {**os.environ, **env})
    from dashboards.app import create_app

    app = create_app(settings, stale_after_s=stale_after, secure_cookies=secure_cookies)
    click.echo(f"IOC dashboard on http://{host}:{port} (store {settings.db_url})")
    app.run(host=host, port=port, debug=debug, threaded=True)
