"""`ioc population`: population figures and audited person lookups."""

from __future__ import annotations

import json

import click

from ioc.cli.context import Ctx, actor, fmt_int, open_store_of, pass_ctx


@click.group()
def population() -> None:
    """Population figures and audited person lookups (synthetic registry or remote service)."""


@population.command("stats")
@click.option("--province", help="One province (2-digit code); default: all.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def population_stats(ctx: Ctx, province: str | None, as_json: bool) -> None:
    """Population scale, area and density; size of the synthetic registry."""
    from ioc.population import SyntheticRegistry, open_directory

    directory = open_directory(ctx.settings)
    try:
        rows = (
            [directory.province_aggregate(province)]
            if province
            else directory.province_aggregates()
        )
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    registry = directory if isinstance(directory, SyntheticRegistry) else None
    out = [
        {
            "code": a.code,
            "name": a.name,
            "population": a.population,
            "area_km2": a.area_km2,
            "density": round(a.density, 1) if a.density is not None else None,
            "synthetic_residents": registry.size(a.code) if registry else None,
        }
        for a in rows
    ]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{'code':<5} {'province':<24} {'population':>12} {'km²':>10} {'/km²':>8} {'sample':>8}"
    )
    for r in out:
        click.echo(
            f"{r['code']:<5} {r['name']:<24} {fmt_int(r['population']):>12} "
            f"{fmt_int(round(r['area_km2'])):>10} {r['density'] or '—':>8} "
            f"{fmt_int(r['synthetic_residents']):>8}"
        )


@population.command("lookup")
@click.option("--as", "username", required=True, help="Account the lookup is made as (audited).")
@click.option("--purpose", required=True, help="Purpose code, e.g. search_rescue.")
@click.option("--case", "case_number", required=True, help="Case number, e.g. SC-2025-0042.")
@click.option("--id", "national_id", help="12-digit personal ID.")
@click.option("--commune", help="5-digit commune code (with --name and --year).")
@click.option("--name", "full_name", help="Full name.")
@click.option("--year", "birth_year", help="Birth year.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def population_lookup(
    ctx: Ctx,
    username: str,
    purpose: str,
    case_number: str,
    national_id: str | None,
    commune: str | None,
    full_name: str | None,
    birth_year: str | None,
    as_json: bool,
) -> None:
    """Look a person up with the same checks, masking, rate limit and audit as the web page."""
    import dataclasses

    from ioc.population import LookupFailed, LookupRefused, LookupService, open_directory

    store = open_store_of(ctx, migrate=True)
    try:
        service = LookupService(store, open_directory(ctx.settings))
        outcome = service.lookup(
            store.get_user(username),
            purpose=purpose,
            case_number=case_number,
            national_id=national_id,
            commune=commune,
            full_name=full_name,
            birth_year=birth_year,
            source=actor(),
        )
    except (LookupRefused, LookupFailed) as exc:
        raise click.ClickException(f"{exc} (audit #{exc.audit_id})") from None
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "audit_id": outcome.audit_id,
                    "truncated": outcome.truncated,
                    "results": [dataclasses.asdict(v) for v in outcome.results],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for v in outcome.results:
        click.echo(
            f"{v.national_id}  {v.full_name:<28} {v.sex}  {v.birth:<10}  "
            f"hộ {v.household_size}  {v.commune_name}"
        )
    click.echo(f"{len(outcome.results)} kết quả / results (audit #{outcome.audit_id})")
