"""What every `ioc` subcommand shares: lazily loaded settings, the plugin group, small helpers."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import click

from ioc.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from ioc.store import Store


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


def open_store_of(ctx: Ctx, migrate: bool = False) -> Store:
    """The store of the settings, a click error if it cannot be opened."""
    from ioc.store import StoreError, open_store

    try:
        return open_store(ctx.settings.db_url, migrate=migrate)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def fmt_int(value: int | None) -> str:
    """1.234.567 as Vietnamese print it, a dash for unknown."""
    return f"{value:,}".replace(",", ".") if value is not None else "—"


def actor() -> str:
    """Who the audit log names for a command-line action."""
    import getpass

    return f"cli:{getpass.getuser()}"
