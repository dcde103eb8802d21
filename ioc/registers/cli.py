"""`ioc registers import|show|progress` (and `generate`, added by sample_feeds)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from ioc.cli import Ctx, PluginGroup, pass_ctx
from ioc.registers.importer import RegisterFileError, parse_cameras, parse_villages

MAX_ERRORS_SHOWN = 50


def _open(ctx: Ctx):
    from ioc.store import StoreError, open_store

    try:
        return open_store(ctx.settings.db_url, migrate=True)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _province(code: str | None) -> str | None:
    from ioc.geo import geography

    if code is None:
        return None
    try:
        return geography().province(code).code
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--province") from None


@click.group(cls=PluginGroup, plugin_group="ioc.registers.commands")
def registers() -> None:
    """Village (signal, power) and camera integration registers of the national programmes."""


@registers.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--cameras", is_flag=True, help="The file is a camera integration register.")
@click.option("--dry-run", is_flag=True, help="Check every row, load nothing.")
@pass_ctx
def import_(ctx: Ctx, path: Path, cameras: bool, dry_run: bool) -> None:
    """Load a village (or camera) register from CSV or XLSX; any bad row loads nothing."""
    try:
        result = parse_cameras(path) if cameras else parse_villages(path)
    except RegisterFileError as exc:
        raise click.ClickException(str(exc)) from None
    if result.errors:
        for err in result.errors[:MAX_ERRORS_SHOWN]:
            click.echo(f"{path.name}: {err}", err=True)
        more = len(result.errors) - MAX_ERRORS_SHOWN
        if more > 0:
            click.echo(f"... and {more} more", err=True)
        raise click.ClickException(
            f"{len(result.errors)} bad rows in {path.name}: nothing imported"
        )
    if dry_run:
        click.echo(f"{path.name}: {len(result.villages) or len(result.cameras)} rows valid")
        return
    store = _open(ctx)
    try:
        loaded = store.load_register(result.villages, result.cameras)
    finally:
        store.close()
    if cameras:
        click.echo(f"{path.name}: {loaded.cameras} cameras imported")
    else:
        click.echo(
            f"{path.name}: {loaded.villages_added} villages added, "
            f"{loaded.villages_updated} updated, {loaded.villages_stale} older than stored (skipped)"
        )


@registers.command("show")
@click.option("--province", help="2-digit province code; all provinces when left out.")
@click.option("--on", "on", default=None, help="Progress as of this local day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def show(ctx: Ctx, province: str | None, on: str | None, as_json: bool) -> None:
    """Programme progress per province (or per commune of one province)."""
    from ioc.geo import geography
    from ioc.programmes import PROGRAMMES, progress

    code = _province(province)
    try:
        today = date.fromisoformat(on) if on else date.today()
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--on") from None
    store = _open(ctx)
    try:
        rows = store.programme_counts(by="ward" if code else "province", province=code, on=today)
        summary = {}
        for key, prog in PROGRAMMES.items():
            target, per_day = store.programme_timeline(key, code)
            p = progress(prog, target, per_day, today)
            summary[key] = {
                "target": p.target,
                "done": p.done,
                "remaining": p.remaining,
                "planned_share": round(p.planned_share, 4),
                "days_to_deadline": p.days_to_deadline,
                "projected_completion": p.projected_completion
                and p.projected_completion.isoformat(),
            }
    finally:
        store.close()
    geo = geography()

    def name(key: str) -> str:
        return geo.commune(key).name if code else geo.province(key).name

    places = [
        {
            "code": r.key,
            "name": name(r.key),
            "signal_target": r.signal_target,
            "power_target": r.power_target,
            "signal_remaining": r.signal_target - r.signal_done,
            "power_remaining": r.power_target - r.power_done,
        }
        for r in rows
    ]
    places.sort(key=lambda p: (-p["signal_remaining"] - p["power_remaining"], p["code"]))
    if as_json:
        json.dump({"on": today.isoformat(), "programmes": summary, "places": places}, sys.stdout,
                  ensure_ascii=False, indent=1)  # fmt: skip
        click.echo()
        return
    for key, s in summary.items():
        click.echo(
            f"{key:8} target {s['target']:>6}  done {s['done']:>6}  remaining {s['remaining']:>6}  "
            f"deadline in {s['days_to_deadline']} days  projected {s['projected_completion'] or '-'}"
        )
    click.echo(f"{'code':6} {'name':32} {'no 4G':>6} {'of':>5} {'no grid':>7} {'of':>5}")
    for p in places:
        click.echo(
            f"{p['code']:6} {p['name'][:32]:32} {p['signal_remaining']:>6} "
            f"{p['signal_target']:>5} {p['power_remaining']:>7} {p['power_target']:>5}"
        )
