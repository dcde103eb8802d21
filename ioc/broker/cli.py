"""`ioc devices`: broker credentials of devices and service accounts (docs/security.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ioc.broker.accounts import (
    SERVICE_PREFIX,
    SERVICES,
    AccountError,
    AccountRegistry,
    Credentials,
    locked,
    reload,
)


def broker_dir(data_dir: Path) -> Path:
    """The directory of the broker `ioc broker` runs for this data dir (accounts, ACL, pid)."""
    return Path(data_dir) / "mosquitto"


def _settings(ctx: click.Context) -> Any:
    # The root `ioc` group's object (ioc.cli.Ctx), reached without importing ioc.cli,
    # which imports this module: no import cycle (tests/test_architecture.py).
    return ctx.find_root().obj.settings


def _broker_dir(ctx: click.Context) -> Path:
    return broker_dir(_settings(ctx).data_dir)


def _registry(ctx: click.Context) -> AccountRegistry:
    settings = _settings(ctx)
    try:
        return AccountRegistry(broker_dir(settings.data_dir), prefix=settings.topic_prefix)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


def _show_once(creds: Credentials) -> None:
    click.echo(f"username  {creds.username}")
    click.echo(f"password  {creds.password}")
    click.echo("The password is shown only this once; only its hash is kept.")


def _change(ctx: click.Context, action: Callable[[AccountRegistry], Credentials | None]) -> None:
    """Load, change, save and reload under the registry lock; show a new password once."""
    with locked(_broker_dir(ctx)):
        registry = _registry(ctx)
        try:
            creds = action(registry)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        registry.save()
    if creds is not None:
        _show_once(creds)
    pid = reload(registry.dir)
    if pid is None:
        click.echo(f"no running broker recorded in {registry.dir}; applies when it starts")
    else:
        click.echo(f"broker (pid {pid}) reloaded accounts and ACL")


province_opt = click.option("--province", required=True, help="2-digit province code.")
source_opt = click.option("--source", required=True, help="Device id (the event's source).")


@click.group()
def devices() -> None:
    """Broker credentials: one per device, and service accounts (ingest, web, record, replay)."""


@devices.command("add")
@province_opt
@source_opt
@click.pass_context
def devices_add(ctx: click.Context, province: str, source: str) -> None:
    """Register a device: it may publish only as itself in its own province."""
    _change(ctx, lambda r: r.add_device(province, source))


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def devices_list(ctx: click.Context, as_json: bool) -> None:
    """Devices and service accounts (never passwords or hashes)."""
    registry = _registry(ctx)
    rows = [{k: v for k, v in d.items() if k != "hash"} for d in registry.devices()]
    services = [{k: v for k, v in s.items() if k != "hash"} for s in registry.services()]
    if as_json:
        click.echo(json.dumps({"devices": rows, "services": services}, indent=2))
        return
    click.echo(f"{'username':<32} {'province':<8} {'source':<24} {'state':<8} created (UTC)")
    for d in rows:
        state = "enabled" if d["enabled"] else "disabled"
        click.echo(
            f"{d['username']:<32} {d['province']:<8} {d['source']:<24} {state:<8} {d['created']}"
        )
    for s in services:
        state = "enabled" if s["enabled"] else "disabled"
        name = SERVICE_PREFIX + s["name"]
        click.echo(f"{name:<32} {'service':<8} {s['access']:<24} {state:<8} {s['created']}")


@devices.command("disable")
@province_opt
@source_opt
@click.pass_context
def devices_disable(ctx: click.Context, province: str, source: str) -> None:
    """Stop a device from connecting (takes effect at once on a running broker)."""
    _change(ctx, lambda r: r.set_device_enabled(province, source, False))
    click.echo(f"disabled {province}.{source}")


@devices.command("enable")
@province_opt
@source_opt
@click.pass_context
def devices_enable(ctx: click.Context, province: str, source: str) -> None:
    """Allow a disabled device again (with its current password)."""
    _change(ctx, lambda r: r.set_device_enabled(province, source, True))
    click.echo(f"enabled {province}.{source}")


@devices.command("rotate")
@province_opt
@source_opt
@click.pass_context
def devices_rotate(ctx: click.Context, province: str, source: str) -> None:
    """Give a device a new password; the old one is refused from the reload on."""
    _change(ctx, lambda r: r.rotate_device(province, source))


@devices.group("service")
def service() -> None:
    """Service accounts: ingest and web read ioc/v1/#; record reads; replay (engineer tool) writes."""


service_name = click.argument("name", type=click.Choice(sorted(SERVICES)))


@service.command("add")
@service_name
@click.pass_context
def service_add(ctx: click.Context, name: str) -> None:
    """Create a service account (or give it a new password if it exists)."""

    def add(registry: AccountRegistry) -> Credentials:
        if any(s["name"] == name for s in registry.services()):
            raise AccountError(
                f"service account {name} exists: `ioc devices service rotate {name}` "
                "replaces its password"
            )
        return registry.set_service(name)

    _change(ctx, add)


@service.command("rotate")
@service_name
@click.pass_context
def service_rotate(ctx: click.Context, name: str) -> None:
    """Give a service account a new password (update the service's --mqtt-url, then restart it)."""
    _change(ctx, lambda r: r.set_service(name))


@service.command("disable")
@service_name
@click.pass_context
def service_disable(ctx: click.Context, name: str) -> None:
    """Stop a service account from connecting (e.g. replay on a production broker)."""
    _change(ctx, lambda r: r.set_service_enabled(name, False))
    click.echo(f"disabled {SERVICE_PREFIX}{name}")
