"""`ioc users`: accounts, roles and web sessions, every change audited."""

from __future__ import annotations

import sys
from typing import Any

import click

from ioc.cli.context import Ctx, actor, open_store_of, pass_ctx


@click.group()
def users() -> None:
    """Accounts and roles (operator, leader, engineer, admin)."""


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
    store = open_store_of(ctx, migrate=True)
    try:
        store.add_user(username, password_hash, role, province)
        store.append_audit(
            actor(), "user_add", target=username, details={"role": role, "province": province}
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
    store = open_store_of(ctx, migrate=True)
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


def _switch(name: str, disabled: bool, doc: str) -> None:
    """Register `ioc users enable|disable USERNAME`."""

    @users.command(name, help=doc)
    @click.argument("username")
    @pass_ctx
    def switch(ctx: Ctx, username: str) -> None:
        _update_user(ctx, username, f"user_{name}", disabled=disabled)
        click.echo(f"{name}d {username}")


_switch("disable", True, "Disable an account (it can no longer log in).")
_switch("enable", False, "Enable a disabled account.")


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
    store = open_store_of(ctx, migrate=True)
    try:
        if store.get_user(username) is None:
            raise click.ClickException(f"no user {username!r}")
        if revoke:
            n = store.end_sessions(username)
            store.append_audit(actor(), "sessions_revoke", target=username, details={"n": n})
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
    store = open_store_of(ctx, migrate=True)
    try:
        store.update_user(username, **changes)
        store.append_audit(actor(), action, target=username)
    except KeyError:
        raise click.ClickException(f"no user {username!r}") from None
    finally:
        store.close()
