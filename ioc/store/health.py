"""Health of the store and of the ingest workers: probes, heartbeats, row counts."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

from ioc.store.core import StoreCore, record
from ioc.store.models import (
    WorkerHealth,
)

MAIN_TABLES = "events devices alarms alarm_actions users audit_log dead_letters ingest_workers"
# The KPI state: the history of the KPIs, kept when raw events are dropped.
KPI_TABLES = (
    "kpi_hourly_province kpi_hourly_ward kpi_daily_province kpi_daily_ward kpi_trips "
    "kpi_cameras kpi_camera_conditions kpi_camera_downtime kpi_village_outages"
)


class Health(StoreCore):
    """Ping, worker heartbeats and the row counts of the tables."""

    def ping(self) -> bool:
        """True when the store answers a trivial query (for health probes)."""
        try:
            return self._rows("SELECT 1 AS ok")[0]["ok"] == 1
        except Exception:  # any failure means "not ready"; the probe never sees why
            return False

    def heartbeat(self, health: WorkerHealth) -> None:
        """Record an ingest worker's counters (one row per worker, overwritten)."""
        cols = [f.name for f in fields(WorkerHealth)]
        values = [self._to_db(getattr(health, c)) for c in cols]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        with self.transaction() as tx:
            tx.execute(
                f"INSERT INTO ingest_workers ({', '.join(cols)}) "  # noqa: S608
                f"VALUES ({', '.join(['%s'] * len(cols))}) "
                f"ON CONFLICT (worker_id) DO UPDATE SET {updates}",
                values,
            )

    def workers(self, *, stale_after: timedelta | None = None) -> list[WorkerHealth]:
        """Reported ingest workers, optionally only those seen recently."""
        query, params = "SELECT * FROM ingest_workers", []
        if stale_after is not None:
            query += " WHERE heartbeat_at >= %s"
            params.append(datetime.now(UTC) - stale_after)
        return [record(WorkerHealth, r) for r in self._rows(query + " ORDER BY worker_id", params)]

    def table_counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        return self._count_rows(MAIN_TABLES.split())

    def kpi_table_sizes(self) -> dict[str, int]:
        """Row counts of the KPI state tables."""
        return self._count_rows(KPI_TABLES.split())
