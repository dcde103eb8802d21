"""KPI state the ingest writer keeps in its own transaction: counts of KPI facts per hour
and local day, trips and cameras first seen, camera downtime and village outages.

These tables are the KPI history: they hold their counts after raw events are dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ioc.events import Event
from ioc.facts import (
    CAMERA_DOMAINS,
    CAMERA_DOWN_KINDS,
    TRIP_METRIC,
    VILLAGE_OUTAGE_KINDS,
    floor_hour,
    kpi_facts,
    local_day,
    trip_key,
)
from ioc.store.core import VALUES_CHUNK, StoreCore, Tx

KNOWN_KEYS_MAX = 200_000

HOUR = ("bucket", "timestamptz")
DAY = ("day", "date")
PROVINCE = ("province", "text")
WARD = ("ward", "text")
METRIC = ("metric", "text")
N = ("n", "int8")


def upsert_add(table: str, conflict: Sequence[str]) -> str:
    """The ON CONFLICT tail that adds a new count to the stored one."""
    return f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET n = {table}.n + excluded.n"


# The grains of KPI fact counts: (table, columns as (name, PostgreSQL type), conflict key).
FACT_GRAINS: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]], ...] = (
    (
        "kpi_hourly_ward",
        (HOUR, PROVINCE, WARD, METRIC, N),
        ("province", "bucket", "ward", "metric"),
    ),
    ("kpi_hourly_province", (HOUR, PROVINCE, METRIC, N), ("bucket", "province", "metric")),
    ("kpi_daily_ward", (DAY, PROVINCE, WARD, METRIC, N), ("province", "day", "ward", "metric")),
    ("kpi_daily_province", (DAY, PROVINCE, METRIC, N), ("day", "province", "metric")),
)


class KpiState(StoreCore):
    """Facts derived from newly stored events (`_apply_kpi_state`)."""

    def _apply_kpi_state(self, tx: Tx, inserted: Sequence[Event]) -> None:
        """Keep KPI rollups and state for newly stored events, in the writer's transaction."""
        facts: Counter[tuple[datetime, str, str, str]] = Counter()
        trips: dict[str, tuple[str, str, datetime]] = {}
        cameras: dict[str, tuple[str, str, datetime]] = {}
        health: list[Event] = []
        villages: list[Event] = []
        for e in inserted:
            kind = e.kind
            ward = e.ward or ""
            for metric in kpi_facts(e):
                facts[(floor_hour(e.ts), e.province, ward, metric)] += 1
            domain = kind.split(".", 1)[0]
            if domain == "transport":
                key = trip_key(e)
                if key is not None and (key not in trips or e.ts < trips[key][2]):
                    trips[key] = (e.province, ward, e.ts)
            elif domain in CAMERA_DOMAINS:
                cur = cameras.get(e.source)
                if cur is None or e.ts < cur[2]:
                    cameras[e.source] = (e.province, ward, e.ts)
                if kind in CAMERA_DOWN_KINDS:
                    health.append(e)
            if kind in VILLAGE_OUTAGE_KINDS:
                villages.append(e)
        known = self._kpi_known()
        trips = {k: v for k, v in trips.items() if k not in known}
        if trips:
            new = self._insert_rows(
                tx,
                "kpi_trips",
                (("trip", "text"), PROVINCE, WARD, ("first_ts", "timestamptz")),
                [(k, p, w, ts) for k, (p, w, ts) in trips.items()],
                "ON CONFLICT (trip) DO NOTHING RETURNING trip",
            )
            fresh = {row["trip"] for row in new}
            for key in fresh:
                p, w, ts = trips[key]
                facts[(floor_hour(ts), p, w, TRIP_METRIC)] += 1
            self._remember(known, (k for k in trips if k not in fresh))
        if facts:
            self._upsert_facts(tx, facts)
        cameras = {c: v for c, v in cameras.items() if ("camera", c) not in known}
        if cameras:
            changed = self._insert_rows(
                tx,
                "kpi_cameras",
                (("source", "text"), PROVINCE, WARD, ("first_seen", "timestamptz")),
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
        """Add counts of (UTC hour, province, ward, metric) to every grain of FACT_GRAINS."""
        grains: list[Counter[tuple[Any, ...]]] = [Counter() for _ in FACT_GRAINS]
        for (hour, province, ward, metric), n in facts.items():
            values = {"bucket": hour, "day": local_day(hour), "province": province}
            values.update(ward=ward, metric=metric)
            for (_, columns, _), counts in zip(FACT_GRAINS, grains, strict=True):
                counts[tuple(values[c] for c, _ in columns[:-1])] += n
        for (table, columns, conflict), counts in zip(FACT_GRAINS, grains, strict=True):
            rows = [(*k, n) for k, n in counts.items()]
            self._insert_rows(tx, table, columns, rows, upsert_add(table, conflict))

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
        episodes: dict[tuple[str, str], list[Any]] = {}
        for e in events:
            service, started = VILLAGE_OUTAGE_KINDS[e.kind]
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
