"""KPI state the ingest writer keeps, and the KPI queries: small rollups and indexed lookups only.

Mixed into Store. Queries use %s placeholders that work on both dialects; the few
per-dialect expressions (epoch seconds, floor) sit in `_epoch` and `_floor`.
Hours are UTC; days are local dates in Asia/Ho_Chi_Minh (UTC+7, no daylight saving).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ioc.events import Event
    from ioc.store.base import Tx

LOCAL_OFFSET = timedelta(hours=7)
LOCAL_OFFSET_S = 7 * 3600
# Rows per multi-row INSERT; keeps SQLite under its bound-parameter limit.
VALUES_CHUNK = 500
# Trips and cameras remembered as already stored (about 100 bytes each).
KNOWN_KEYS_MAX = 200_000

HOUR = ("bucket", "timestamptz")
DAY = ("day", "date")
PROVINCE = ("province", "text")
WARD = ("ward", "text")
METRIC = ("metric", "text")
N = ("n", "int8")

Group = Literal["province", "ward", "total"]
SeriesGrain = Literal["hour", "day"]


def local_day(ts: datetime) -> date:
    """The Asia/Ho_Chi_Minh calendar date of an instant."""
    return (ts.astimezone(UTC) + LOCAL_OFFSET).date()


def local_midnight(day: date) -> datetime:
    """The UTC instant at which a local calendar day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - LOCAL_OFFSET


def epoch(ts: datetime) -> float:
    """Seconds since 1970 of an aware datetime."""
    return ts.timestamp()


def split_window(
    since: datetime, until: datetime
) -> tuple[list[tuple[datetime, datetime]], tuple[date, date] | None]:
    """[since, until) on hour boundaries as hour ranges at its edges and the whole local days between.

    Returns (hour ranges, (first day, day after the last) or None).
    """
    first = local_day(since)
    if local_midnight(first) < since:
        first += timedelta(days=1)
    end = local_day(until)
    if local_midnight(end) <= local_midnight(first) or local_midnight(first) >= until:
        return ([(since, until)] if since < until else []), None
    hours = []
    if since < local_midnight(first):
        hours.append((since, local_midnight(first)))
    if local_midnight(end) < until:
        hours.append((local_midnight(end), until))
    return hours, (first, end)


def _hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class KpiQueries:
    """KPI state kept at ingest (`_apply_kpi_state`) and the queries the KPI map reads."""

    dialect: str

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[Tx]: ...
        def _to_db(self, value: Any) -> Any: ...
        def _from_db(self, row: dict[str, Any]) -> dict[str, Any]: ...

    # --- dialect fragments ----------------------------------------------------------

    def _epoch(self, column: str) -> str:
        """SQL for a timestamp column (or %s) as float seconds since 1970."""
        if self.dialect == "postgres":
            return f"date_part('epoch', {column})"
        # Whole seconds (rounded) plus the text's fixed-width fraction: julianday() alone
        # blurs by tens of microseconds, enough to move a duration across an SLA boundary.
        return (
            f"(round((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400.0) "
            f"+ CAST(substr({column}, 20, 7) AS REAL))"
        )

    def _floor(self, expr: str) -> str:
        """SQL floor of a non-negative float expression, as an integer."""
        if self.dialect == "postgres":
            return f"floor({expr})::bigint"
        return f"CAST({expr} AS INTEGER)"

    @staticmethod
    def _least(a: str, b: str) -> str:
        return f"(CASE WHEN {a} < {b} THEN {a} ELSE {b} END)"

    @staticmethod
    def _greatest(a: str, b: str) -> str:
        return f"(CASE WHEN {a} > {b} THEN {a} ELSE {b} END)"

    def _day_value(self, value: Any) -> date:
        return date.fromisoformat(value) if isinstance(value, str) else value

    def _fetch(self, query: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            return tx.fetch(query, [self._to_db(p) for p in params])

    @staticmethod
    def _in(values: Sequence[Any]) -> str:
        return ", ".join(["%s"] * len(values))

    def _insert_rows(
        self,
        tx: Tx,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        tail: str = "",
    ) -> list[dict[str, Any]]:
        """INSERT rows (columns as (name, PostgreSQL type)) with an ON CONFLICT tail.

        PostgreSQL gets one statement with array parameters (a long VALUES list costs more
        to parse than to run); SQLite gets multi-row VALUES in chunks. Rows must not repeat
        a conflict key.
        """
        if not rows:
            return []
        names = ", ".join(c for c, _ in columns)
        if self.dialect == "postgres":
            arrays = ", ".join(f"%s::{t}[]" for _, t in columns)
            # Table, columns and tail are fixed strings of this module; values are parameters.
            query = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}"  # noqa: S608
            return tx.fetch(query, [list(col) for col in zip(*rows, strict=True)])
        out: list[dict[str, Any]] = []
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        # Rollup rows share few distinct hours and days: adapt each once.
        cache: dict[Any, Any] = {}

        def conv(v: Any) -> Any:
            if isinstance(v, date):
                if v not in cache:
                    cache[v] = self._to_db(v)
                return cache[v]
            return v

        for i in range(0, len(rows), VALUES_CHUNK):
            chunk = rows[i : i + VALUES_CHUNK]
            params = [conv(v) for row in chunk for v in row]
            values = ", ".join([one] * len(chunk))
            query = f"INSERT INTO {table} ({names}) VALUES {values} {tail}"  # noqa: S608
            out.extend(tx.fetch(query, params))
        return out

    # --- ingest ------------------------------------------------------------------------

    def _apply_kpi_state(self, tx: Tx, inserted: Sequence[Event]) -> None:
        """Keep KPI rollups and state for newly stored events, in the writer's transaction."""
        from ioc import kpi  # lazy: ioc.kpi reads the store at run time, not import time

        facts: Counter[tuple[datetime, str, str, str]] = Counter()
        trips: dict[str, tuple[str, str, datetime]] = {}
        cameras: dict[str, tuple[str, str, datetime]] = {}
        health: list[Event] = []
        villages: list[Event] = []
        for e in inserted:
            kind = e.kind
            ward = e.ward or ""
            for metric in kpi.kpi_facts(e):
                facts[(_hour(e.ts), e.province, ward, metric)] += 1
            domain = kind.split(".", 1)[0]
            if domain == "transport":
                key = kpi.trip_key(e)
                if key is not None and (key not in trips or e.ts < trips[key][2]):
                    trips[key] = (e.province, ward, e.ts)
            elif domain in kpi.CAMERA_DOMAINS:
                cur = cameras.get(e.source)
                if cur is None or e.ts < cur[2]:
                    cameras[e.source] = (e.province, ward, e.ts)
                if kind in kpi.CAMERA_DOWN_KINDS:
                    health.append(e)
            if kind in kpi.VILLAGE_OUTAGE_KINDS:
                villages.append(e)
        known = self._kpi_known()
        trips = {k: v for k, v in trips.items() if k not in known}
        if trips:
            new = self._insert_rows(
                tx,
                "kpi_trips",
                (
                    ("trip", "text"),
                    ("province", "text"),
                    ("ward", "text"),
                    ("first_ts", "timestamptz"),
                ),
                [(k, p, w, ts) for k, (p, w, ts) in trips.items()],
                "ON CONFLICT (trip) DO NOTHING RETURNING trip",
            )
            fresh = {row["trip"] for row in new}
            for key in fresh:
                p, w, ts = trips[key]
                facts[(_hour(ts), p, w, kpi.TRIP_METRIC)] += 1
            self._remember(known, (k for k in trips if k not in fresh))
        if facts:
            self._upsert_facts(tx, facts)
        cameras = {c: v for c, v in cameras.items() if ("camera", c) not in known}
        if cameras:
            changed = self._insert_rows(
                tx,
                "kpi_cameras",
                (
                    ("source", "text"),
                    ("province", "text"),
                    ("ward", "text"),
                    ("first_seen", "timestamptz"),
                ),
                [(s, p, w, ts) for s, (p, w, ts) in cameras.items()],
                "ON CONFLICT (source) DO UPDATE SET first_seen = excluded.first_seen "
                "WHERE excluded.first_seen < kpi_cameras.first_seen RETURNING source",
            )
            touched = {row["source"] for row in changed}
            self._remember(known, (("camera", c) for c in cameras if c not in touched))
        if health:
            self._apply_camera_health(tx, health)
        if villages:
            self._apply_village_outages(tx, villages)

    def _kpi_known(self) -> set[Any]:
        # Trips and cameras this process has seen already stored by an earlier, committed
        # batch: most events of a batch belong to them, and skipping their no-op upserts
        # keeps the KPI state cheap for ingest. Keys inserted by the current transaction are
        # not remembered (it may still roll back); a later batch confirms them.
        known = getattr(self, "_kpi_known_keys", None)
        if known is None:
            known = set()
            self._kpi_known_keys = known
        return known

    @staticmethod
    def _remember(known: set[Any], keys: Iterable[Any]) -> None:
        if len(known) > KNOWN_KEYS_MAX:
            known.clear()
        known.update(keys)

    def _upsert_facts(self, tx: Tx, facts: Counter[tuple[datetime, str, str, str]]) -> None:
        if self.dialect == "postgres":
            self._upsert_facts_pg(tx, facts)
            return
        hourly_p: Counter[tuple[datetime, str, str]] = Counter()
        daily_w: Counter[tuple[date, str, str, str]] = Counter()
        daily_p: Counter[tuple[date, str, str]] = Counter()
        for (hour, province, ward, metric), n in facts.items():
            day = local_day(hour)
            hourly_p[(hour, province, metric)] += n
            daily_w[(day, province, ward, metric)] += n
            daily_p[(day, province, metric)] += n
        self._insert_rows(
            tx,
            "kpi_hourly_ward",
            (HOUR, PROVINCE, WARD, METRIC, N),
            [(*k, n) for k, n in facts.items()],
            "ON CONFLICT (province, bucket, ward, metric) DO UPDATE SET n = kpi_hourly_ward.n + excluded.n",
        )
        self._insert_rows(
            tx,
            "kpi_hourly_province",
            (HOUR, PROVINCE, METRIC, N),
            [(*k, n) for k, n in hourly_p.items()],
            "ON CONFLICT (bucket, province, metric) DO UPDATE "
            "SET n = kpi_hourly_province.n + excluded.n",
        )
        self._insert_rows(
            tx,
            "kpi_daily_ward",
            (DAY, PROVINCE, WARD, METRIC, N),
            [(*k, n) for k, n in daily_w.items()],
            "ON CONFLICT (province, day, ward, metric) DO UPDATE SET n = kpi_daily_ward.n + excluded.n",
        )
        self._insert_rows(
            tx,
            "kpi_daily_province",
            (DAY, PROVINCE, METRIC, N),
            [(*k, n) for k, n in daily_p.items()],
            "ON CONFLICT (day, province, metric) DO UPDATE SET n = kpi_daily_province.n + excluded.n",
        )

    def _upsert_facts_pg(self, tx: Tx, facts: Counter[tuple[datetime, str, str, str]]) -> None:
        # One round trip and one set of arrays feed all four grains; PostgreSQL does the
        # grouping. The local day is the UTC hour shifted by +7 h (no daylight saving).
        rows = [(*k, n) for k, n in facts.items()]
        arrays = [list(col) for col in zip(*rows, strict=True)]
        tx.fetch(
            """
            WITH f AS (
                SELECT bucket, province, ward, metric, n,
                    ((bucket AT TIME ZONE 'UTC') + interval '7 hours')::date AS day
                FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::int8[])
                    AS f(bucket, province, ward, metric, n)
            ),
            hw AS (
                INSERT INTO kpi_hourly_ward (bucket, province, ward, metric, n)
                SELECT bucket, province, ward, metric, n FROM f
                ON CONFLICT (province, bucket, ward, metric)
                DO UPDATE SET n = kpi_hourly_ward.n + excluded.n
            ),
            hp AS (
                INSERT INTO kpi_hourly_province (bucket, province, metric, n)
                SELECT bucket, province, metric, sum(n) FROM f GROUP BY 1, 2, 3
                ON CONFLICT (bucket, province, metric)
                DO UPDATE SET n = kpi_hourly_province.n + excluded.n
            ),
            dw AS (
                INSERT INTO kpi_daily_ward (day, province, ward, metric, n)
                SELECT day, province, ward, metric, sum(n) FROM f GROUP BY 1, 2, 3, 4
                ON CONFLICT (province, day, ward, metric)
                DO UPDATE SET n = kpi_daily_ward.n + excluded.n
            )
            INSERT INTO kpi_daily_province (day, province, metric, n)
            SELECT day, province, metric, sum(n) FROM f GROUP BY 1, 2, 3
            ON CONFLICT (day, province, metric) DO UPDATE SET n = kpi_daily_province.n + excluded.n
            """,
            arrays,
        )

    def _apply_camera_health(self, tx: Tx, events: Sequence[Event]) -> None:
        # A camera is down from its first open condition until its last one closes, so
        # overlapping conditions (frozen while covered) count once.
        sources = sorted({e.source for e in events})
        open_now: dict[str, dict[str, tuple[str, datetime]]] = {s: {} for s in sources}
        for i in range(0, len(sources), VALUES_CHUNK):
            chunk = sources[i : i + VALUES_CHUNK]
            rows = tx.fetch(
                "SELECT source, condition, kind, opened_at FROM kpi_camera_conditions "  # noqa: S608
                f"WHERE source IN ({self._in(chunk)})",
                chunk,
            )
            for r in rows:
                r = self._from_db(r)
                open_now[r["source"]][r["condition"]] = (r["kind"], r["opened_at"])
        before = {s: dict(c) for s, c in open_now.items()}
        for e in sorted(events, key=lambda e: e.ts):
            conds = open_now[e.source]
            condition = str(e.attrs.get("condition", e.kind))
            if e.attrs.get("state", "opened") == "opened":
                if condition in conds:
                    continue
                if not conds:
                    tx.execute(
                        "INSERT INTO kpi_camera_downtime (source, province, ward, started_at) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (source, started_at) DO NOTHING",
                        (e.source, e.province, e.ward or "", self._to_db(e.ts)),
                    )
                conds[condition] = (e.kind, e.ts)
            elif condition in conds:
                del conds[condition]
                if not conds:
                    tx.execute(
                        "UPDATE kpi_camera_downtime SET ended_at = %s "
                        "WHERE source = %s AND ended_at IS NULL",
                        (self._to_db(e.ts), e.source),
                    )
        for source in sources:
            old, new = before[source], open_now[source]
            gone = [c for c in old if c not in new]
            if gone:
                tx.execute(
                    "DELETE FROM kpi_camera_conditions WHERE source = %s "  # noqa: S608
                    f"AND condition IN ({self._in(gone)})",
                    [source, *gone],
                )
            added = [(source, c, k, self._to_db(ts)) for c, (k, ts) in new.items() if c not in old]
            if added:
                tx.executemany(
                    "INSERT INTO kpi_camera_conditions (source, condition, kind, opened_at) "
                    "VALUES (%s, %s, %s, %s)",
                    added,
                )

    def _apply_village_outages(self, tx: Tx, events: Sequence[Event]) -> None:
        from ioc import kpi

        episodes: dict[tuple[str, str], list[Any]] = {}
        for e in events:
            service, started = kpi.VILLAGE_OUTAGE_KINDS[e.kind]
            ref = str(e.attrs.get("gap") or e.attrs.get("outage"))
            cur = episodes.setdefault(
                (service, ref),
                [e.province, e.ward or "", str(e.attrs.get("village", "")), None, None, None],
            )
            if e.attrs.get("households") is not None:
                cur[3] = int(e.attrs["households"])
            slot = 4 if started else 5
            # The first start and the last end of an episode id win, whatever their order.
            if cur[slot] is None or (e.ts < cur[slot] if started else e.ts > cur[slot]):
                cur[slot] = e.ts
        self._insert_rows(
            tx,
            "kpi_village_outages",
            (
                ("service", "text"),
                ("ref", "text"),
                PROVINCE,
                WARD,
                ("village", "text"),
                ("households", "int4"),
                ("started_at", "timestamptz"),
                ("ended_at", "timestamptz"),
            ),
            [(s, r, *v) for (s, r), v in episodes.items()],
            "ON CONFLICT (service, ref) DO UPDATE SET "
            "households = coalesce(excluded.households, kpi_village_outages.households), "
            "started_at = CASE WHEN kpi_village_outages.started_at IS NULL "
            "OR excluded.started_at < kpi_village_outages.started_at "
            "THEN excluded.started_at ELSE kpi_village_outages.started_at END, "
            "ended_at = CASE WHEN kpi_village_outages.ended_at IS NULL "
            "OR excluded.ended_at > kpi_village_outages.ended_at "
            "THEN excluded.ended_at ELSE kpi_village_outages.ended_at END",
        )

    # --- imports of alarm handling ------------------------------------------------------

    def record_alarm_handling(
        self, handled: Iterable[tuple[int, datetime | None, datetime | None, str]]
    ) -> int:
        """Set when alarms were acknowledged and resolved, for seeding and history imports.

        Takes (alarm id, acknowledged_at, resolved_at, actor); logs each step in the action
        log with its own time. Returns the number of alarms changed.
        """
        changed = 0
        with self.transaction() as tx:
            for alarm_id, acked, resolved, actor in handled:
                state = "resolved" if resolved else ("acknowledged" if acked else "open")
                n = tx.execute(
                    "UPDATE alarms SET state = %s, acknowledged_at = %s, acknowledged_by = %s, "
                    "resolved_at = %s, resolved_by = %s, resolution = %s "
                    "WHERE id = %s AND state <> 'resolved'",
                    (
                        state,
                        self._to_db(acked),
                        actor if acked else None,
                        self._to_db(resolved),
                        actor if resolved else None,
                        "imported" if resolved else None,
                        alarm_id,
                    ),
                )
                if not n:
                    continue
                changed += 1
                for action, ts in (("acknowledge", acked), ("resolve", resolved)):
                    if ts is not None:
                        tx.execute(
                            "INSERT INTO alarm_actions (alarm_id, ts, actor, action, note) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            (alarm_id, self._to_db(ts), actor, action, "imported"),
                        )
        return changed

    # --- counts of KPI facts ------------------------------------------------------------

    @staticmethod
    def _unit_column(group: Group) -> str:
        return {"province": "province", "ward": "ward", "total": "''"}[group]

    def kpi_counts(
        self,
        metrics: Sequence[str],
        since: datetime,
        until: datetime,
        *,
        group: Group = "province",
        province: str | None = None,
        ward: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts of KPI facts in [since, until) (hour-aligned): rows of unit, metric, n.

        Whole local days come from the daily rollups, the edges from the hourly ones.
        """
        by_ward = group == "ward" or ward is not None
        hourly = "kpi_hourly_ward" if by_ward else "kpi_hourly_province"
        daily = "kpi_daily_ward" if by_ward else "kpi_daily_province"
        unit = self._unit_column(group)
        where, extra = self._place(province, ward)
        metric_in = f"metric IN ({self._in(metrics)})"
        parts: list[str] = []
        params: list[Any] = []
        hours, days = split_window(since, until)
        for lo, hi in hours:
            parts.append(
                f"SELECT {unit} AS unit, metric, n FROM {hourly} "  # noqa: S608 - fixed names
                f"WHERE bucket >= %s AND bucket < %s AND {metric_in}{where}"
            )
            params += [lo, hi, *metrics, *extra]
        if days is not None:
            parts.append(
                f"SELECT {unit} AS unit, metric, n FROM {daily} "  # noqa: S608 - fixed names
                f"WHERE day >= %s AND day < %s AND {metric_in}{where}"
            )
            params += [days[0], days[1], *metrics, *extra]
        if not parts or not metrics:
            return []
        query = (
            "SELECT unit, metric, sum(n) AS n FROM ("  # noqa: S608 - fixed table names
            + " UNION ALL ".join(parts)
            + ") AS parts GROUP BY unit, metric"
        )
        return [
            {"unit": r["unit"], "metric": r["metric"], "n": int(r["n"])}
            for r in self._fetch(query, params)
        ]

    def kpi_count_series(
        self,
        metrics: Sequence[str],
        since: datetime,
        until: datetime,
        grain: SeriesGrain,
        *,
        province: str | None = None,
        ward: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts of KPI facts per hour (UTC datetime) or local day (date) and metric."""
        if not metrics or since >= until:
            return []
        by_ward = ward is not None
        hourly = "kpi_hourly_ward" if by_ward else "kpi_hourly_province"
        daily = "kpi_daily_ward" if by_ward else "kpi_daily_province"
        where, extra = self._place(province, ward)
        metric_in = f"metric IN ({self._in(metrics)})"
        out: Counter[tuple[Any, str]] = Counter()
        hours, days = split_window(since, until) if grain == "day" else ([(since, until)], None)
        with self.transaction() as tx:
            for lo, hi in hours:
                rows = tx.fetch(
                    f"SELECT bucket, metric, sum(n) AS n FROM {hourly} "  # noqa: S608
                    f"WHERE bucket >= %s AND bucket < %s AND {metric_in}{where} "
                    "GROUP BY bucket, metric",
                    [self._to_db(p) for p in (lo, hi, *metrics, *extra)],
                )
                for r in rows:
                    b = self._from_db(r)["bucket"]
                    out[(local_day(b) if grain == "day" else b, r["metric"])] += int(r["n"])
            if days is not None:
                rows = tx.fetch(
                    f"SELECT day, metric, sum(n) AS n FROM {daily} "  # noqa: S608
                    f"WHERE day >= %s AND day < %s AND {metric_in}{where} GROUP BY day, metric",
                    [self._to_db(p) for p in (days[0], days[1], *metrics, *extra)],
                )
                for r in rows:
                    out[(self._day_value(r["day"]), r["metric"])] += int(r["n"])
        return [{"bucket": b, "metric": m, "n": n} for (b, m), n in sorted(out.items())]

    @staticmethod
    def _place(province: str | None, ward: str | None) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if province is not None:
            clauses.append("province = %s")
            params.append(province)
        if ward is not None:
            clauses.append("ward = %s")
            params.append(ward)
        return "".join(f" AND {c}" for c in clauses), params

    # --- alarms -------------------------------------------------------------------------

    def _alarm_group(self, group: Group | SeriesGrain) -> str:
        if group == "hour":
            return self._floor(f"{self._epoch('opened_at')} / 3600.0")
        if group == "day":
            return self._floor(f"({self._epoch('opened_at')} + {LOCAL_OFFSET_S}) / 86400.0")
        return {"province": "province", "ward": "ward", "total": "''"}[group]

    def _series_key(self, group: Group | SeriesGrain, value: Any) -> Any:
        if group == "hour":
            return datetime.fromtimestamp(int(value) * 3600, UTC)
        if group == "day":
            return date(1970, 1, 1) + timedelta(days=int(value))
        return value

    def alarm_handling(
        self,
        since: datetime,
        until: datetime,
        now: datetime,
        ack_sla_s: dict[int, int],
        resolve_sla_s: dict[int, int],
        *,
        group: Group | SeriesGrain = "province",
        province: str | None = None,
        ward: str | None = None,
        medians: Sequence[str] = ("ack", "res"),
    ) -> list[dict[str, Any]]:
        """Handling of alarms opened in [since, until), per group.

        Rows: unit, n, n_ack, n_resolved, ack_median_s, resolve_median_s, sla_met
        (acknowledged and resolved within their severity's SLA) and sla_missed (either
        deadline passed, answered late or not at all by `now`); the rest are still pending.
        Only the medians asked for are computed (each sorts every alarm of the period);
        the others are None.
        """
        sev = sorted(set(ack_sla_s) | set(resolve_sla_s))
        ack_case = "CASE severity " + " ".join("WHEN %s THEN %s" for _ in sev) + " END"
        sla_params: list[Any] = []
        for table in (ack_sla_s, resolve_sla_s):
            for s in sev:
                sla_params += [s, table.get(s, max(table.values()))]
        where, extra = self._place(province, ward)
        facts = f"""
            SELECT {self._alarm_group(group)} AS unit, ack_s, res_s,
                %s - {self._epoch("opened_at")} AS age_s,
                {ack_case} AS ack_sla,
                {ack_case} AS res_sla
            FROM kpi_alarm_facts WHERE opened_at >= %s AND opened_at < %s{where}
        """  # noqa: S608 - fragments above are fixed SQL, values are parameters
        counts = """
            count(*) AS n, count(ack_s) AS n_ack, count(res_s) AS n_resolved,
            sum(CASE WHEN ack_s <= ack_sla AND res_s <= res_sla THEN 1 ELSE 0 END) AS sla_met,
            sum(CASE WHEN coalesce(ack_s, age_s) > ack_sla
                OR coalesce(res_s, age_s) > res_sla THEN 1 ELSE 0 END) AS sla_missed
        """
        names = {"ack": "ack_median_s", "res": "resolve_median_s"}
        wanted = [m for m in ("ack", "res") if m in medians]
        if self.dialect == "postgres":
            # An ordered-set aggregate sorts bare doubles: ~6x faster than window functions.
            cols = ", ".join(
                f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {m}_s) AS {names[m]}"
                if m in wanted
                else f"NULL AS {names[m]}"
                for m in ("ack", "res")
            )
            query = f"SELECT unit, {counts}, {cols} FROM ({facts}) AS a GROUP BY unit"  # noqa: S608
        else:
            # SQLite has no percentile_cont: the middle row by row_number, or the mean of the
            # two middle rows, which is what percentile_cont(0.5) returns too.
            # Every fragment is fixed text of this method ("ack"/"res"); values are parameters.
            ctes = [f"a AS ({facts})", f"s AS (SELECT unit, {counts} FROM a GROUP BY unit)"]  # noqa: S608
            joins, cols = [], []
            for m in ("ack", "res"):
                if m not in wanted:
                    cols.append(f"NULL AS {names[m]}")
                    continue
                ctes.append(
                    f"r_{m} AS (SELECT unit, {m}_s AS v, "  # noqa: S608
                    f"row_number() OVER (PARTITION BY unit ORDER BY {m}_s) AS rn, "
                    f"count(*) OVER (PARTITION BY unit) AS c FROM a WHERE {m}_s IS NOT NULL)"
                )
                ctes.append(
                    f"m_{m} AS (SELECT unit, avg(v) AS m FROM r_{m} "  # noqa: S608
                    "WHERE rn IN ((c + 1) / 2, (c + 2) / 2) GROUP BY unit)"
                )
                joins.append(f"LEFT JOIN m_{m} ON m_{m}.unit = s.unit")
                cols.append(f"m_{m}.m AS {names[m]}")
            query = (
                f"WITH {', '.join(ctes)} SELECT s.*, {', '.join(cols)} FROM s "  # noqa: S608
                + " ".join(joins)
            )
        params = [epoch(now), *sla_params, since, until, *extra]
        with self.transaction() as tx:
            if self.dialect == "postgres":
                # Two sorts of up to a month of alarms: keep them in memory, not on disk.
                tx.execute("SET LOCAL work_mem = '64MB'")
            rows = tx.fetch(query, [self._to_db(p) for p in params])
        out = []
        for r in rows:
            out.append(
                {
                    "unit": self._series_key(group, r["unit"]),
                    "n": int(r["n"]),
                    "n_ack": int(r["n_ack"]),
                    "n_resolved": int(r["n_resolved"]),
                    "sla_met": int(r["sla_met"] or 0),
                    "sla_missed": int(r["sla_missed"] or 0),
                    "ack_median_s": _float(r["ack_median_s"]),
                    "resolve_median_s": _float(r["resolve_median_s"]),
                }
            )
        return out

    def alarm_counts(
        self,
        kinds: Sequence[str],
        since: datetime,
        until: datetime,
        *,
        group: Group | SeriesGrain = "province",
        province: str | None = None,
        ward: str | None = None,
    ) -> list[dict[str, Any]]:
        """Alarms of the given kinds opened in [since, until): rows of unit, kind, n."""
        if not kinds:
            return []
        where, extra = self._place(province, ward)
        query = (
            f"SELECT {self._alarm_group(group)} AS unit, kind, count(*) AS n "  # noqa: S608
            "FROM kpi_alarm_facts "
            f"WHERE kind IN ({self._in(kinds)}) AND opened_at >= %s AND opened_at < %s{where} "
            "GROUP BY 1, kind"
        )
        rows = self._fetch(query, [*kinds, since, until, *extra])
        return [
            {"unit": self._series_key(group, r["unit"]), "kind": r["kind"], "n": int(r["n"])}
            for r in rows
        ]

    # --- cameras --------------------------------------------------------------------------

    def camera_time(
        self,
        since: datetime,
        until: datetime,
        *,
        group: Group = "province",
        province: str | None = None,
        ward: str | None = None,
    ) -> list[dict[str, Any]]:
        """Camera-seconds watched and down in [since, until): rows of unit, cameras, camera_s, down_s.

        A camera counts from its first event; `until` should not be later than now.
        """
        unit = self._unit_column(group)
        where, extra = self._place(province, ward)
        lo, hi = epoch(since), epoch(until)
        first = self._epoch("first_seen")
        cams = self._fetch(
            f"SELECT {unit} AS unit, count(*) AS cameras, "  # noqa: S608
            f"sum(%s - {self._greatest(first, '%s')}) AS camera_s "
            f"FROM kpi_cameras WHERE first_seen < %s{where} GROUP BY 1",
            [hi, lo, lo, until, *extra],
        )
        start, end = self._epoch("started_at"), self._epoch("ended_at")
        clipped_end = self._least(f"coalesce({end}, %s)", "%s")
        down = self._fetch(
            f"SELECT {unit} AS unit, sum({clipped_end} - {self._greatest(start, '%s')}) AS down_s "  # noqa: S608
            "FROM kpi_camera_downtime WHERE started_at < %s "
            f"AND (ended_at IS NULL OR ended_at > %s){where} GROUP BY 1",
            [hi, hi, hi, hi, lo, lo, until, since, *extra],
        )
        down_by = {r["unit"]: float(r["down_s"] or 0.0) for r in down}
        return [
            {
                "unit": r["unit"],
                "cameras": int(r["cameras"]),
                "camera_s": float(r["camera_s"] or 0.0),
                "down_s": down_by.get(r["unit"], 0.0),
            }
            for r in cams
        ]

    def camera_intervals(
        self,
        since: datetime,
        until: datetime,
        *,
        province: str | None = None,
        ward: str | None = None,
    ) -> tuple[list[float], list[tuple[float, float | None]]]:
        """First-seen times of cameras and down intervals overlapping [since, until), as epoch seconds."""
        where, extra = self._place(province, ward)
        with self.transaction() as tx:
            cams = tx.fetch(
                f"SELECT {self._epoch('first_seen')} AS t FROM kpi_cameras "  # noqa: S608
                f"WHERE first_seen < %s{where}",
                [self._to_db(until), *extra],
            )
            down = tx.fetch(
                f"SELECT {self._epoch('started_at')} AS s, {self._epoch('ended_at')} AS e "  # noqa: S608
                "FROM kpi_camera_downtime WHERE started_at < %s "
                f"AND (ended_at IS NULL OR ended_at > %s){where}",
                [self._to_db(until), self._to_db(since), *extra],
            )
        return (
            [float(r["t"]) for r in cams],
            [(float(r["s"]), _float(r["e"])) for r in down],
        )

    # --- villages -------------------------------------------------------------------------

    def villages_out(
        self,
        service: str,
        at: datetime,
        *,
        group: Group = "province",
        province: str | None = None,
        ward: str | None = None,
    ) -> list[dict[str, Any]]:
        """Villages with an open coverage gap or power outage at `at`: rows of unit, ward, villages, households.

        Rows are per unit and ward, so callers can tell which communes are affected.
        """
        unit = self._unit_column(group)
        where, extra = self._place(province, ward)
        query = (
            f"SELECT {unit} AS unit, ward, count(DISTINCT village) AS villages, "  # noqa: S608
            "sum(households) AS households FROM kpi_village_outages "
            "WHERE service = %s AND started_at <= %s AND (ended_at IS NULL OR ended_at > %s)"
            f"{where} GROUP BY 1, ward"
        )
        rows = self._fetch(query, [service, at, at, *extra])
        return [
            {
                "unit": r["unit"],
                "ward": r["ward"],
                "villages": int(r["villages"]),
                "households": int(r["households"] or 0),
            }
            for r in rows
        ]

    def village_intervals(
        self,
        service: str,
        since: datetime,
        until: datetime,
        *,
        province: str | None = None,
        ward: str | None = None,
    ) -> list[dict[str, Any]]:
        """Episodes overlapping [since, until): rows of ward, village, start_s, end_s (None if open)."""
        where, extra = self._place(province, ward)
        query = (
            f"SELECT province, ward, village, {self._epoch('started_at')} AS s, "  # noqa: S608
            f"{self._epoch('ended_at')} AS e FROM kpi_village_outages "
            "WHERE service = %s AND started_at < %s AND (ended_at IS NULL OR ended_at > %s)"
            f"{where}"
        )
        rows = self._fetch(query, [service, until, since, *extra])
        return [
            {
                "province": r["province"],
                "ward": r["ward"],
                "village": r["village"],
                "start_s": float(r["s"]),
                "end_s": _float(r["e"]),
            }
            for r in rows
        ]

    # --- data completeness ----------------------------------------------------------------

    def silent_sources(
        self,
        now: datetime,
        expected_s: dict[str, int],
        *,
        group: Group = "province",
        province: str | None = None,
        ward: str | None = None,
    ) -> list[dict[str, Any]]:
        """Devices per unit and domain, and how many sent nothing for longer than their domain's limit."""
        domains = sorted(expected_s)
        limit = "CASE domain " + " ".join("WHEN %s THEN %s" for _ in domains) + " ELSE %s END"
        unit = {"province": "province", "ward": "coalesce(ward, '')", "total": "''"}[group]
        where, extra = self._place(province, ward)
        last = self._epoch("coalesce(last_ts, status_ts)")
        query = (
            f"SELECT {unit} AS unit, coalesce(domain, '') AS domain, count(*) AS sources, "  # noqa: S608
            f"sum(CASE WHEN last_ts IS NULL AND status_ts IS NULL THEN 1 "
            f"WHEN %s - {last} > {limit} THEN 1 ELSE 0 END) AS silent "
            f"FROM devices WHERE 1 = 1{where} GROUP BY 1, 2"
        )
        params: list[Any] = [epoch(now)]
        for d in domains:
            params += [d, expected_s[d]]
        params += [max(expected_s.values()), *extra]
        return [
            {
                "unit": r["unit"],
                "domain": r["domain"],
                "sources": int(r["sources"]),
                "silent": int(r["silent"] or 0),
            }
            for r in self._fetch(query, params)
        ]

    def kpi_table_sizes(self) -> dict[str, int]:
        """Row counts of the KPI state tables."""
        names = (
            "kpi_hourly_province",
            "kpi_hourly_ward",
            "kpi_daily_province",
            "kpi_daily_ward",
            "kpi_trips",
            "kpi_cameras",
            "kpi_camera_conditions",
            "kpi_camera_downtime",
            "kpi_village_outages",
        )
        with self.transaction() as tx:
            return {
                name: int(tx.fetch(f"SELECT count(*) AS n FROM {name}")[0]["n"])  # noqa: S608
                for name in names
            }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
