"""Schema migrations: the SQL files shipped per dialect, applied once each, in order."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib import resources

from ioc.store.core import StoreCore

logger = logging.getLogger(__name__)


class Migrations(StoreCore):
    """Applies the dialect's migration files and reports the schema version."""

    def migrations(self) -> list[tuple[int, str, str]]:
        """(version, name, sql) of every migration shipped for this dialect, in order."""
        folder = resources.files("ioc.store") / "migrations" / self.dialect
        out = []
        for item in folder.iterdir():
            if item.name.endswith(".sql"):
                version, _, name = item.name.removesuffix(".sql").partition("_")
                out.append((int(version), name, item.read_text(encoding="utf-8")))
        return sorted(out)

    def schema_version(self) -> int:
        """Highest applied migration, 0 for an empty database."""
        with self.transaction() as tx:
            if not self._has_table(tx, "schema_migrations"):
                return 0
            rows = tx.fetch("SELECT max(version) AS v FROM schema_migrations")
        return int(rows[0]["v"] or 0)

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied."""
        applied = []
        with self.transaction() as tx:
            # Checked first: the application role (no CREATE on the schema) may then call
            # migrate() on an up-to-date store as a no-op.
            if not self._has_table(tx, "schema_migrations"):
                tx.execute(
                    "CREATE TABLE schema_migrations "
                    "(version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)"
                )
        with self.transaction(readonly=True) as tx:
            done = {int(r["version"]) for r in tx.fetch("SELECT version FROM schema_migrations")}
        for version, name, script in self.migrations():
            # By set, not by the highest version: migrations are numbered per branch, so one
            # merged after a higher-numbered one (0005 after 0006) must still be applied.
            if version in done:
                continue
            with self.transaction() as tx:
                self._run_script(tx, script)
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (version, name, datetime.now(UTC).isoformat()),
                )
            logger.info("applied migration %04d_%s on %s", version, name, self.dialect)
            applied.append(version)
        return applied
