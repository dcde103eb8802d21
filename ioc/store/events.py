"""Reads of stored events and of the devices' latest state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ioc.events import Event
from ioc.store.core import StoreCore, record, where_clause
from ioc.store.models import (
    Device,
)


class Events(StoreCore):
    """Events filtered by place, kind and time; devices by province and domain."""

    def _event(self, row: dict[str, Any]) -> Event:
        row = self._from_db(row)
        return Event.model_construct(
            id=row["id"],
            ts=row["ts"],
            source=row["source"],
            kind=row["kind"],
            severity=row["severity"],
            province=row["province"],
            ward=row["ward"],
            lat=row["lat"],
            lon=row["lon"],
            attrs=row["attrs"],
        )

    def count_events(
        self,
        *,
        province: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Number of stored events, optionally for one province and time range."""
        where, params = self._where(province=province, since=since, until=until)
        rows = self._rows(f"SELECT count(*) AS n FROM events{where}", params)  # noqa: S608
        return int(rows[0]["n"])

    def recent_events(
        self,
        *,
        province: str | None = None,
        ward: str | None = None,
        domain: str | None = None,
        min_severity: int = 0,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Newest events first, filtered."""
        where, params = self._where(
            province=province, ward=ward, domain=domain, min_severity=min_severity, since=since
        )
        query = f"SELECT * FROM events{where} ORDER BY ts DESC, id LIMIT %s"  # noqa: S608
        with self.transaction() as tx:
            rows = tx.fetch(query, [self._to_db(p) for p in params] + [int(limit)])
        return [self._event(r) for r in rows]

    def get_event(self, event_id: str) -> Event | None:
        """One event by id."""
        with self.transaction() as tx:
            rows = tx.fetch("SELECT * FROM events WHERE id = %s LIMIT 1", (event_id,))
        return self._event(rows[0]) if rows else None

    @staticmethod
    def _where(
        *,
        province: str | None = None,
        ward: str | None = None,
        domain: str | None = None,
        min_severity: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[str, list[Any]]:
        return where_clause(
            (
                ("province = %s", province),
                ("ward = %s", ward),
                ("kind LIKE %s", f"{domain}.%" if domain else None),
                ("severity >= %s", min_severity or None),
                ("ts >= %s", since),
                ("ts < %s", until),
            )
        )

    def find_events(
        self,
        *,
        province: str | None = None,
        ward: str | None = None,
        domain: str | None = None,
        source: str | None = None,
        kinds: Sequence[str] | None = None,
        exclude_kinds: Sequence[str] = (),
        min_severity: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        oldest_first: bool = False,
    ) -> list[Event]:
        """Events filtered by place, source, kinds and time; newest first unless oldest_first."""
        where, params = self._where(
            province=province,
            ward=ward,
            domain=domain,
            min_severity=min_severity,
            since=since,
            until=until,
        )
        clauses = [where.removeprefix(" WHERE ")] if where else []
        if source is not None:
            clauses.append("source = %s")
            params.append(source)
        if kinds is not None:
            if not kinds:
                return []
            clauses.append(f"kind IN ({', '.join(['%s'] * len(kinds))})")
            params.extend(kinds)
        if exclude_kinds:
            clauses.append(f"kind NOT IN ({', '.join(['%s'] * len(exclude_kinds))})")
            params.extend(exclude_kinds)
        order = "ASC" if oldest_first else "DESC"
        query = (
            "SELECT * FROM events"  # noqa: S608 - fixed clauses, values are parameters
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + f" ORDER BY ts {order}, id LIMIT %s"
        )
        with self.transaction() as tx:
            rows = tx.fetch(query, [self._to_db(p) for p in params] + [int(limit)])
        return [self._event(r) for r in rows]

    def event_counts_by_ward(
        self,
        *,
        since: datetime,
        province: str | None = None,
        domain: str | None = None,
        min_severity: int = 0,
        exclude_kinds: Sequence[str] = (),
    ) -> list[tuple[str, str | None, int, int]]:
        """(province, ward, events, highest severity) since a time, for map aggregation."""
        where, params = self._where(
            province=province, domain=domain, min_severity=min_severity, since=since
        )
        if exclude_kinds:
            where += f" AND kind NOT IN ({', '.join(['%s'] * len(exclude_kinds))})"
            params.extend(exclude_kinds)
        rows = self._rows(
            "SELECT province, ward, count(*) AS n, max(severity) AS top FROM events"  # noqa: S608
            + where
            + " GROUP BY province, ward ORDER BY province, ward",
            params,
        )
        return [(r["province"], r["ward"], int(r["n"]), int(r["top"])) for r in rows]

    def events_per_minute(
        self,
        *,
        minutes: int = 15,
        province: str | None = None,
        now: datetime | None = None,
    ) -> list[tuple[datetime, str, int]]:
        """(minute start UTC, kind, events) for the last `minutes` minutes, the current one included."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        current = now.replace(second=0, microsecond=0)
        starts = [current - timedelta(minutes=i) for i in range(max(1, int(minutes)))]
        # One range scan; the CASE numbers each row's minute, portable across both dialects.
        case = " ".join("WHEN ts >= %s THEN " + str(i) for i in range(len(starts)))
        params: list[Any] = [*starts, starts[-1]]
        query = f"SELECT CASE {case} END AS m, kind, count(*) AS n FROM events WHERE ts >= %s"  # noqa: S608
        if province is not None:
            query += " AND province = %s"
            params.append(province)
        rows = self._rows(query + " GROUP BY 1, 2 ORDER BY 1 DESC, 2", params)
        return [(starts[int(r["m"])], r["kind"], int(r["n"])) for r in rows]

    def latest_per_source(
        self,
        sources: Sequence[str],
        *,
        kinds: Sequence[str],
        since: datetime | None = None,
        per_source: int = 1,
    ) -> dict[str, list[Event]]:
        """The newest events of the given kinds for each source, e.g. each camera's snapshots."""
        out: dict[str, list[Event]] = {}
        if not sources or not kinds:
            return out
        query = (
            "SELECT * FROM events WHERE source = %s "  # noqa: S608 - placeholders only
            f"AND kind IN ({', '.join(['%s'] * len(kinds))})"
            + (" AND ts >= %s" if since is not None else "")
            + " ORDER BY ts DESC, id LIMIT %s"
        )
        tail = ([self._to_db(since)] if since is not None else []) + [int(per_source)]
        # One transaction, one indexed (source, ts) probe per source.
        with self.transaction() as tx:
            for source in sources:
                rows = tx.fetch(query, [source, *kinds, *tail])
                if rows:
                    out[source] = [self._event(r) for r in rows]
        return out

    def newest_event_ts(self, *, province: str | None = None) -> datetime | None:
        """Time of the newest stored event (of one province), for the freshness indicator."""
        if province is None:
            rows = self._rows("SELECT max(ts) AS ts FROM events")
        else:
            rows = self._rows("SELECT max(ts) AS ts FROM events WHERE province = %s", (province,))
        return rows[0]["ts"] if rows else None

    def devices(self, *, province: str | None = None, domain: str | None = None) -> list[Device]:
        """Latest state of every known device."""
        where, params = where_clause((("province = %s", province), ("domain = %s", domain)))
        query = f"SELECT * FROM devices{where} ORDER BY source"  # noqa: S608
        return [record(Device, r) for r in self._rows(query, params)]

    def get_device(self, source: str) -> Device | None:
        """One device's latest state by its source id."""
        rows = self._rows("SELECT * FROM devices WHERE source = %s", (source,))
        return record(Device, rows[0]) if rows else None
