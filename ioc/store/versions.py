"""Cheap data-version and replica facts for the web tier's caches (issue 15).

Mixed into Store. Each method is one short read-only transaction.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ioc.store.base import Tx


class VersionQueries:
    """Replication lag of a read-only store."""

    dialect: str

    if TYPE_CHECKING:

        def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Tx]: ...

    def replica_lag_s(self) -> float | None:
        """Seconds since the last transaction a PostgreSQL standby replayed; None on a primary
        or SQLite. An idle primary also makes this grow: read it with the newest event time."""
        if self.dialect != "postgres":
            return None
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                "SELECT CASE WHEN pg_is_in_recovery() THEN "
                "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END AS lag"
            )
        lag = rows[0]["lag"] if rows else None
        return None if lag is None else max(0.0, float(lag))
