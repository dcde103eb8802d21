"""`ioc geo`: provinces, communes, old-code conversion and point lookups."""

from __future__ import annotations

import json

import click

from ioc.cli.context import fmt_int


@click.group()
def geo() -> None:
    """Provinces, communes and point lookups."""


@geo.command("province")
@click.argument("code")
@click.option("--communes", "list_communes", is_flag=True, help="List the communes too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def geo_province(code: str, list_communes: bool, as_json: bool) -> None:
    """Show a province by its 2-digit code (e.g. 68 for Lâm Đồng)."""
    from ioc.geo import geography

    g = geography()
    if not g.is_province(code.zfill(2)):
        from ioc.geo.legacy import explain_unknown

        hint = explain_unknown(code, 2)
        raise click.ClickException(
            f"unknown province code {code!r}"
            + (hint or f"; valid codes: {', '.join(sorted(g.provinces))}")
        )
    p = g.province(code.zfill(2))
    communes = g.communes_of(p.code)
    if as_json:
        out = {
            "code": p.code,
            "name": p.name,
            "short_name": p.short_name,
            "type": p.type,
            "lat": p.lat,
            "lon": p.lon,
            "area_km2": p.area_km2,
            "population": p.population,
            "commune_count": len(communes),
            "commune_population": sum(c.population or 0 for c in communes),
            "population_source": "sapnhap-2025-07-17",
            "commune_population_methods": {
                m: sum(c.population_method == m for c in communes)
                for m in sorted({c.population_method for c in communes})
            },
        }
        if list_communes:
            out["communes"] = [
                {
                    "code": c.code,
                    "name": c.name,
                    "type": c.type,
                    "population": c.population,
                    "population_method": c.population_method,
                }
                for c in communes
            ]
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"{p.code}  {p.name}")
    click.echo(f"  loại              {p.type}")
    click.echo(f"  trung tâm         {p.lat:.4f}, {p.lon:.4f}")
    click.echo(f"  diện tích         {fmt_int(round(p.area_km2))} km²")
    click.echo(f"  quy mô dân số     {fmt_int(p.population)} người (sapnhap-2025-07-17)")
    methods: dict[str, int] = {}
    for c in communes:
        methods[c.population_method] = methods.get(c.population_method, 0) + 1
    by_method = ", ".join(f"{n} {_METHOD_VI[m]}" for m, n in sorted(methods.items()))
    click.echo(
        f"  dân số cấp xã     {fmt_int(sum(c.population or 0 for c in communes))} người"
        f" ({by_method})"
    )
    kinds: dict[str, int] = {}
    for c in communes:
        kinds[c.type] = kinds.get(c.type, 0) + 1
    detail = ", ".join(f"{n} {t}" for t, n in sorted(kinds.items()))
    click.echo(f"  đơn vị cấp xã     {len(communes)} ({detail})")
    if list_communes:
        for c in communes:
            mark = _METHOD_VI[c.population_method]
            click.echo(f"    {c.code}  {c.name:<40} {fmt_int(c.population):>10}  {mark}")


# How a commune's figure was made (see ioc/geo/data/README.md), as printed by the CLI.
_METHOD_VI = {"published": "công bố", "scaled": "hiệu chỉnh", "estimated": "ước tính"}


@geo.command("commune")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def geo_commune(code: str, as_json: bool) -> None:
    """Show a commune, ward or special zone by its 5-digit code, with its population's source."""
    from ioc.geo import geography

    g = geography()
    if not g.is_commune(code):
        from ioc.geo.legacy import explain_unknown

        raise click.ClickException(f"unknown commune code {code!r}{explain_unknown(code, 5)}")
    c = g.commune(code)
    p = g.province(c.province_code)
    if as_json:
        out = {
            "code": c.code,
            "name": c.name,
            "type": c.type,
            "province_code": p.code,
            "province": p.name,
            "lat": c.lat,
            "lon": c.lon,
            "area_km2": c.area_km2,
            "population": c.population,
            "population_method": c.population_method,
            "population_source": c.population_source,
            "population_published": c.population_published,
            "population_note": c.population_note,
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    area = f"{c.area_km2:.2f} km²" if c.area_km2 is not None else "—"
    click.echo(f"{c.code}  {c.name}, {p.name} ({p.code})")
    click.echo(f"  loại              {c.type}")
    click.echo(f"  trung tâm         {c.lat:.4f}, {c.lon:.4f}")
    click.echo(f"  diện tích         {area}")
    click.echo(
        f"  quy mô dân số     {fmt_int(c.population)} người ({_METHOD_VI[c.population_method]})"
    )
    click.echo(f"  nguồn             {c.population_source}")
    click.echo(f"  số công bố        {fmt_int(c.population_published)}")
    if c.population_note:
        click.echo(f"  ghi chú           {c.population_note}")


@geo.command("convert")
@click.argument("code_or_address", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def geo_convert(code_or_address: tuple[str, ...], as_json: bool) -> None:
    """Convert an old (pre-2025) province/district/ward code or address to the 2025 units."""
    from ioc.geo import geography
    from ioc.geo.legacy import describe_legacy, legacy_district, legacy_province, legacy_ward

    g = geography()
    text = " ".join(code_or_address).strip()
    if text.isdigit():
        found = {2: legacy_province, 3: legacy_district, 5: legacy_ward}.get(len(text))
        old = found(text) if found else None
        if len(text) == 1:
            old = legacy_province(text)
        if old is None:
            raise click.ClickException(
                f"{text!r} is not a pre-2025 province (2 digits), district (3) or ward (5) code"
            )
        current = (
            g.is_province(text)
            if old.level == "province"
            else old.level == "ward" and g.is_commune(text)
        )
        if as_json:
            out = {
                "old": {"level": old.level, "code": old.code, "name": old.name},
                "province_codes": list(old.province_codes),
                "ward_codes": list(old.ward_codes),
                "code_still_in_use": bool(current),
            }
            click.echo(json.dumps(out, ensure_ascii=False, indent=2))
            return
        click.echo(describe_legacy(old))
        if current:
            unit = g.province(text).name if old.level == "province" else g.commune(text).name
            click.echo(f"note: {text} is also a 2025 code, of {unit}")
        return
    from vietnamadminunits import convert_address

    try:
        new = convert_address(text)
    except Exception as exc:  # the package raises bare ValueErrors for unparseable text
        raise click.ClickException(f"cannot convert address {text!r}: {exc}") from None
    old = new.OldAdminUnit
    province = next((p for p in g.provinces.values() if p.name == new.province), None)
    commune = g.find_commune(province.code, new.ward) if province is not None and new.ward else None
    out = {
        "old": {
            "province": old.province,
            "district": old.district,
            "ward": old.ward,
            "street": old.street,
        },
        "province_code": province.code if province else None,
        "province": new.province,
        "ward_code": commune.code if commune else None,
        "ward": new.ward,
        "street": new.street,
    }
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    was = ", ".join(x for x in (old.street, old.ward, old.district, old.province) if x)
    now = ", ".join(
        x
        for x in (
            new.street,
            f"{commune.code} {commune.name}" if commune else new.ward,
            f"{province.code} {province.name}" if province else new.province,
        )
        if x
    )
    click.echo(f"trước 2025: {was}")
    click.echo(f"từ 2025:    {now}")


@geo.command("locate")
@click.argument("lat", type=float)
@click.argument("lon", type=float)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def geo_locate(lat: float, lon: float, as_json: bool) -> None:
    """Find the commune at a point (decimal degrees, WGS84)."""
    from ioc.geo import geography

    g = geography()
    c = g.locate(lat, lon)
    if c is None:
        raise click.ClickException(f"({lat}, {lon}) is outside Vietnam")
    p = g.province(c.province_code)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "code": c.code,
                    "name": c.name,
                    "type": c.type,
                    "province_code": p.code,
                    "province": p.name,
                },
                ensure_ascii=False,
            )
        )
        return
    click.echo(f"{c.code}  {c.name}, {p.name} ({p.code})")
