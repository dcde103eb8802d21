"""The `ioc` command line. Other rooms add commands through entry points
(groups `ioc.commands` and `ioc.bench`), so this core never imports them."""

from __future__ import annotations

import json
import logging
import sys
from importlib.metadata import entry_points
from typing import Any

import click

from ioc.settings import ConfigError, Settings, load_settings

logger = logging.getLogger(__name__)


class Ctx:
    """Lazily built settings shared by subcommands."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(**self.overrides)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings


pass_ctx = click.make_pass_decorator(Ctx)


class PluginGroup(click.Group):
    """A click group that also lists commands registered under an entry-point group."""

    def __init__(self, *args: Any, plugin_group: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugin_group = plugin_group

    def _plugins(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=self.plugin_group)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # A room whose module fails to import must not hide every other command.
        rows = []
        for name in self.list_commands(ctx):
            try:
                cmd = self.get_command(ctx, name)
            except Exception as exc:
                rows.append((name, f"(unavailable: {exc})"))
                continue
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        ep = self._plugins().get(name)
        return ep.load() if ep is not None else None


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


# --- db ---------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Create, migrate and inspect the store."""


def _open(ctx: Ctx, migrate: bool = False):
    from ioc.store import StoreError, open_store

    try:
        return open_store(ctx.settings.db_url, migrate=migrate)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@db.command("init")
@pass_ctx
def db_init(ctx: Ctx) -> None:
    """Create the schema (same as migrate on an empty store)."""
    _migrate(ctx)


@db.command("migrate")
@pass_ctx
def db_migrate(ctx: Ctx) -> None:
    """Apply pending migrations."""
    _migrate(ctx)


def _migrate(ctx: Ctx) -> None:
    from ioc.store import StoreError

    store = _open(ctx)
    try:
        applied = store.migrate()
        version = store.schema_version()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if applied:
        click.echo(
            f"applied migrations {', '.join(map(str, applied))}; schema at version {version}"
        )
    else:
        click.echo(f"schema already at version {version}; nothing to do")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def db_status(ctx: Ctx, as_json: bool) -> None:
    """Backend, versions and row counts."""
    from ioc.store import StoreError

    store = _open(ctx)
    try:
        status = store.status()
        if status["schema_version"]:
            status["rows"] = store.table_counts()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False, indent=2, default=str))
        return
    for key, value in status.items():
        if key == "rows":
            click.echo("rows:")
            for table, n in value.items():
                click.echo(f"  {table:<18} {n:>12,}")
        else:
            click.echo(f"{key:<17} {value}")
    if status["schema_version"] < status["latest_migration"]:
        click.echo("schema is behind: run `ioc db migrate`")


# --- geo --------------------------------------------------------------------------


@cli.group()
def geo() -> None:
    """Provinces, communes and point lookups."""


def _fmt_int(value: int | None) -> str:
    return f"{value:,}".replace(",", ".") if value is not None else "—"


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
    click.echo(f"  diện tích         {_fmt_int(round(p.area_km2))} km²")
    click.echo(f"  quy mô dân số     {_fmt_int(p.population)} người (sapnhap-2025-07-17)")
    methods: dict[str, int] = {}
    for c in communes:
        methods[c.population_method] = methods.get(c.population_method, 0) + 1
    by_method = ", ".join(f"{n} {_METHOD_VI[m]}" for m, n in sorted(methods.items()))
    click.echo(
        f"  dân số cấp xã     {_fmt_int(sum(c.population or 0 for c in communes))} người"
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
            click.echo(f"    {c.code}  {c.name:<40} {_fmt_int(c.population):>10}  {mark}")


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
        f"  quy mô dân số     {_fmt_int(c.population)} người ({_METHOD_VI[c.population_method]})"
    )
    click.echo(f"  nguồn             {c.population_source}")
    click.echo(f"  số công bố        {_fmt_int(c.population_published)}")
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


# --- users ------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """Accounts and roles (operator, leader, engineer, admin)."""


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["operator", "leader", "engineer", "admin"]), required=True
)
@click.option("--province", help="Limit the account to one province (2-digit code).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def users_add(
    ctx: Ctx, username: str, role: str, province: str | None, password_stdin: bool
) -> None:
    """Create an account."""
    from ioc.auth import hash_password
    from ioc.geo import geography

    if province is not None and not geography().is_province(province):
        raise click.BadParameter(f"unknown province code {province!r}", param_hint="--province")
    if not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise click.BadParameter("use letters, digits, '.', '_' or '-'", param_hint="USERNAME")
    try:
        password_hash = hash_password(_read_password(password_stdin))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    store = _open(ctx, migrate=True)
    try:
        store.add_user(username, password_hash, role, province)
        store.append_audit(
            _actor(), "user_add", target=username, details={"role": role, "province": province}
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    scope = f" for province {province}" if province else ""
    click.echo(f"created {role} {username}{scope}")


@users.command("list")
@pass_ctx
def users_list(ctx: Ctx) -> None:
    """List accounts."""
    store = _open(ctx, migrate=True)
    try:
        rows = store.list_users()
    finally:
        store.close()
    click.echo(f"{'username':<20} {'role':<9} {'province':<8} {'state':<8} created (UTC)")
    for u in rows:
        state = "disabled" if u.disabled else "active"
        click.echo(
            f"{u.username:<20} {u.role:<9} {u.province or '*':<8} {state:<8} "
            f"{u.created_at:%Y-%m-%d %H:%M}"
        )


@users.command("disable")
@click.argument("username")
@pass_ctx
def users_disable(ctx: Ctx, username: str) -> None:
    """Disable an account (it can no longer log in)."""
    _update_user(ctx, username, "user_disable", disabled=True)
    click.echo(f"disabled {username}")


@users.command("enable")
@click.argument("username")
@pass_ctx
def users_enable(ctx: Ctx, username: str) -> None:
    """Enable a disabled account."""
    _update_user(ctx, username, "user_enable", disabled=False)
    click.echo(f"enabled {username}")


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def users_passwd(ctx: Ctx, username: str, password_stdin: bool) -> None:
    """Set a new password."""
    from ioc.auth import hash_password

    try:
        password_hash = hash_password(_read_password(password_stdin))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _update_user(ctx, username, "user_passwd", password_hash=password_hash)
    click.echo(f"password changed for {username}")


@users.command("sessions")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="End every web session of the user now.")
@pass_ctx
def users_sessions(ctx: Ctx, username: str, revoke: bool) -> None:
    """List a user's web sessions (UTC), or end them all with --revoke."""
    store = _open(ctx, migrate=True)
    try:
        if store.get_user(username) is None:
            raise click.ClickException(f"no user {username!r}")
        if revoke:
            n = store.end_sessions(username)
            store.append_audit(_actor(), "sessions_revoke", target=username, details={"n": n})
            click.echo(f"revoked {n} session(s) of {username}")
            return
        rows = store.sessions(username)
    finally:
        store.close()
    click.echo(f"{len(rows)} session(s) of {username}")
    for s in rows:
        click.echo(
            f"  created {s.created_at:%Y-%m-%d %H:%M:%S}  last seen {s.last_seen:%Y-%m-%d %H:%M:%S}"
            f"  from {s.client_addr or '-'}  id {s.id_hash[:12]}"
        )


def _update_user(ctx: Ctx, username: str, action: str, **changes: Any) -> None:
    store = _open(ctx, migrate=True)
    try:
        store.update_user(username, **changes)
        store.append_audit(_actor(), action, target=username)
    except KeyError:
        raise click.ClickException(f"no user {username!r}") from None
    finally:
        store.close()


# --- population ---------------------------------------------------------------------


@cli.group()
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
            f"{r['code']:<5} {r['name']:<24} {_fmt_int(r['population']):>12} "
            f"{_fmt_int(round(r['area_km2'])):>10} {r['density'] or '—':>8} "
            f"{_fmt_int(r['synthetic_residents']):>8}"
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

    store = _open(ctx, migrate=True)
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
            source=_actor(),
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


# --- bench ------------------------------------------------------------------------


@cli.group(cls=PluginGroup, plugin_group="ioc.bench")
def bench() -> None:
    """Benchmarks that print figures (and ratios against a peer where one exists)."""


# --- demo and broker ------------------------------------------------------------------


@cli.command()
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
@pass_ctx
def demo(ctx: Ctx, feed: str | None, speed: str, port: int | None, start: str) -> None:
    """Run broker, ingest, a looping sample feed and the web app together."""
    from pathlib import Path

    from ioc.demo import run_demo

    run_demo(ctx.settings, feed=Path(feed) if feed else None, speed=speed, port=port, start=start)


@cli.command()
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


from ioc.broker.cli import devices  # noqa: E402  (the command group lives with the broker code)

cli.add_command(devices)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="ioc")
    except KeyboardInterrupt:
        sys.exit(130)
