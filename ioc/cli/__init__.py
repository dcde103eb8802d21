"""The `ioc` command line. Other rooms add commands through entry points
(groups `ioc.commands` and `ioc.bench`), so this core never imports them."""

from __future__ import annotations

import logging
import sys

import click

from ioc.broker.cli import devices
from ioc.cli.context import Ctx, PluginGroup, pass_ctx
from ioc.cli.db import db
from ioc.cli.demo import broker, demo
from ioc.cli.geo import geo
from ioc.cli.population import population
from ioc.cli.users import users

logger = logging.getLogger(__name__)


@click.group(cls=PluginGroup, plugin_group="ioc.commands")
@click.option("--db-url", envvar=None, help="Store URL (overrides IOC_DB_URL).")
@click.option("--mqtt-url", envvar=None, help="Broker URL or 'embedded' (overrides IOC_MQTT_URL).")
@click.option("--data-dir", envvar=None, type=click.Path(file_okay=False), help="Data directory.")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(package_name="ioc-dashboard")
@click.pass_context
def cli(
    ctx: click.Context, db_url: str | None, mqtt_url: str | None, data_dir: str | None, verbose: int
) -> None:
    """Intelligent Operations Centre: ingest, store and show events of Vietnamese provinces."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Ctx({"db_url": db_url, "mqtt_url": mqtt_url, "data_dir": data_dir})


@cli.group(cls=PluginGroup, plugin_group="ioc.bench")
def bench() -> None:
    """Benchmarks that print figures (and ratios against a peer where one exists)."""


for _command in (db, geo, users, population, demo, broker, devices):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="ioc")
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["Ctx", "PluginGroup", "cli", "main", "pass_ctx"]
