"""`ioc registers generate`: the synthetic register (see sample_feeds.registers) to files or store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ioc.cli import Ctx, pass_ctx


def _day(value: str, hint: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint=hint) from None


@click.command("generate")
@click.option("--province", "provinces", multiple=True, help="2-digit code; repeat; all if none.")
@click.option("--start", default="2025-06-01", show_default=True, help="Programme baseline day.")
@click.option("--until", default=None, help="Last day of generated progress (default: today).")
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same register.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write villages.csv, village-updates-N.csv and cameras.csv here instead of the store.",
)
@pass_ctx
def generate(
    ctx: Ctx, provinces: tuple[str, ...], start: str, until: str | None, seed: int, out: Path | None
) -> None:
    """Generate a plausible SYNTHETIC register (villages, programme progress, cameras)."""
    from ioc.geo import geography
    from sample_feeds.registers import generate_register

    geo = geography()
    try:
        codes = [geo.province(p).code for p in provinces] or sorted(geo.provinces)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--province") from None
    first = _day(start, "--start")
    last = _day(until, "--until") if until else date.today()
    if last < first:
        raise click.BadParameter("before --start", param_hint="--until")
    reg = generate_register(codes, start=first, until=last, seed=seed)
    if out is not None:
        from ioc.registers.importer import write_csv

        out.mkdir(parents=True, exist_ok=True)
        write_csv(reg.baseline, out / "villages.csv")
        # A register file holds a village once: a village declared twice later (signal, then
        # power) goes into a second file, imported after the first.
        rounds: list[list] = []
        seen: dict[str, int] = {}
        for v in reg.updates:
            n = seen.get(v.id, 0)
            seen[v.id] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(v)
        for n, rows in enumerate(rounds, start=1):
            write_csv(rows, out / f"village-updates-{n}.csv")
        write_csv(reg.cameras, out / "cameras.csv")
        click.echo(
            f"{out}: {len(reg.baseline)} villages, {len(reg.updates)} later declarations, "
            f"{len(reg.cameras)} cameras (synthetic)"
        )
        return
    from ioc.store import StoreError, open_store

    try:
        store = open_store(ctx.settings.db_url, migrate=True)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        base = store.load_register(reg.baseline, reg.cameras)
        later = store.load_register(reg.updates)
    finally:
        store.close()
    click.echo(
        f"{base.villages_added} villages, {later.villages_updated} later declarations, "
        f"{base.cameras} cameras loaded (synthetic, seed {seed})"
    )
