"""The KPI queries: small rollups and indexed lookups only, over the KPI state.

Queries use %s placeholders that work on both dialects; dialect expressions (epoch
seconds, floor, medians) are methods of the dialect modules. Hours are UTC; days are
local dates in Asia/Ho_Chi_Minh (UTC+7, no daylight saving).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from ioc.facts import (
    LOCAL_OFFSET_S,
    epoch,
    local_day,
    local_midnight,
    split_window,
)
from ioc.store.core import StoreCore

Group = Literal["province", "ward", "total"]
SeriesGrain = Literal["hour", "day"]

# Re-exported for callers that took the time helpers from here.
__all__ = ["KpiQueries", "epoch", "local_day", "local_midnight", "split_window"]


class KpiQueries(StoreCore):
    """The reads behind the KPI map, report and trends."""

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
        query = self._grouped_medians(facts, counts, names, medians)
        params = [epoch(now), *sla_params, since, until, *extra]
        with self.transaction() as tx:
            self._prepare_sort(tx)
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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
