"""`ioc demo` and `ioc broker`: run the stack or the broker in the foreground."""

from __future__ import annotations

import click

from ioc.cli.context import Ctx, pass_ctx


@click.command()
@click.option("--feed", type=click.Path(exists=True, dir_okay=False), help="Feed to replay.")
@click.option("--speed", default="1", show_default=True, help="Replay speed factor.")
@click.option("--port", type=int, help="Web port (default IOC_HTTP_PORT, 8050).")
@click.option(
    "--from",
    "start",
    default="07:00",
    show_default=True,
    help="Feed time of day to start at (HH:MM, or 'now' to follow the clock).",
)
@click.option(
    "--history-events",
    type=click.IntRange(min=0),
    help="Events of synthetic history written at first start (default 300,000; 0: none).",
)
@pass_ctx
def demo(
    ctx: Ctx, feed: str | None, speed: str, port: int | None, start: str, history_events: int | None
) -> None:
    """Run broker, ingest, a looping sample feed and the web app together."""
    from pathlib import Path

    from ioc.demo import run_demo

    run_demo(
        ctx.settings,
        feed=Path(feed) if feed else None,
        speed=speed,
        port=port,
        start=start,
        history_events=history_events,
    )


@click.command()
@click.option("--port", type=int, default=0, help="Port (default: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--anonymous",
    is_flag=True,
    help="No accounts, no ACL (loopback only, like `ioc demo`). Default: accounts and ACL.",
)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), help="Server cert (PEM).")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="Its key (PEM).")
@click.option("--tls-ca", type=click.Path(dir_okay=False, exists=True), help="CA that signed it.")
@click.option("--tls-port", type=int, default=0, help="TLS listener port (default: a free one).")
@pass_ctx
def broker(
    ctx: Ctx,
    port: int,
    host: str,
    anonymous: bool,
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
    tls_port: int,
) -> None:
    """Run Mosquitto with the shipped config in the foreground: accounts + ACL unless --anonymous."""
    import time
    from pathlib import Path

    from ioc.broker import MosquittoBroker, TlsFiles, embedded_broker, is_loopback
    from ioc.broker.cli import broker_dir
    from ioc.process import stop_on_sigterm

    tls_given = [v for v in (tls_cert, tls_key, tls_ca) if v]
    if tls_given and len(tls_given) != 3:
        raise click.UsageError("TLS needs all of --tls-cert, --tls-key and --tls-ca")
    tls = TlsFiles(Path(tls_ca), Path(tls_cert), Path(tls_key)) if tls_cert else None  # type: ignore[arg-type]
    if anonymous and not is_loopback(host):
        raise click.UsageError(f"--anonymous is only allowed on loopback, not on {host}")
    if anonymous and tls:
        raise click.UsageError("TLS is for the secure broker: drop --anonymous")
    stop_on_sigterm()
    try:
        if anonymous:
            b = embedded_broker(ctx.settings.data_dir, port)
        else:
            b = MosquittoBroker(
                broker_dir(ctx.settings.data_dir),
                port,
                host,
                secure=True,
                tls=tls,
                tls_port=tls_port,
            )
    except FileNotFoundError:
        raise click.ClickException(
            "mosquitto is not installed (apt-get install mosquitto); only --anonymous can "
            "fall back to the embedded amqtt broker"
        ) from None
    with b:
        if anonymous:
            click.echo(f"{b.kind} listening on {b.url}: ANONYMOUS, no accounts, loopback only")
        else:
            click.echo(
                f"mosquitto listening on {b.url}: accounts and ACL required (pid file {b.pid_file})"
            )
            if b.tls is not None:
                click.echo(f"  TLS listener on mqtts://{b.host}:{b.tls_port}")
            for name, url in b.service_urls.items():
                # Printed once, when the account is created; only hashes are kept.
                click.echo(f"  new service account {name}: {url}")
            if b.service_urls:
                click.echo(
                    "  these passwords are shown only now: put them in each service's config"
                )
            click.echo("  add devices with `ioc devices add --province P --source S`")
        click.echo("Ctrl+C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
