"""`ioc serve`: the web app alone (Flask's threaded server; gunicorn for production)."""

from __future__ import annotations

import click

from ioc.cli import Ctx, pass_ctx


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
@pass_ctx
def serve(
    ctx: Ctx,
    host: str | None,
    port: int | None,
    debug: bool,
    secure_cookies: bool,
    stale_after: int,
) -> None:
    """Run the dashboard web app (Dash) on the configured store."""
    from dashboards.app import create_app

    settings = ctx.settings
    app = create_app(settings, stale_after_s=stale_after, secure_cookies=secure_cookies)
    host = host or settings.http_host
    port = port or settings.http_port
    click.echo(f"IOC dashboard on http://{host}:{port} (store {settings.db_url})")
    app.run(host=host, port=port, debug=debug, threaded=True)
