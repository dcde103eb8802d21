"""KPI reads: values per unit, totals and trends, from the KPI state the ingest writer keeps."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ioc.alarms import ACK_SLA_S, RESOLVE_SLA_S
from ioc.facts import (
    ARRIVAL_METRIC,
    ON_TIME_METRIC,
    ORDER_INCIDENT_KINDS,
    TRAFFIC_ORDER_KINDS,
    TRIP_METRIC,
    epoch,
    floor_hour,
    local_day,
)
from ioc.geo import geography

if TYPE_CHECKING:
    from ioc.store import Store

from ioc.kpi.definitions import (
    EXPECTED_SILENCE_S,
    KPIS,
    TRANSPORT_ALARM_KINDS,
    KpiDef,
    Point,
    Value,
    Window,
    kpi,
)


def _ratio(num: float, den: float | None, scale: float) -> float | None:
    return num / den * scale if den else None


def _population(unit: str) -> int | None:
    g = geography()
    if unit == "":
        return sum(p.population or 0 for p in g.provinces.values())
    if len(unit) == 2:
        return g.province(unit).population
    return g.commune(unit).population


def _units(province: str | None) -> list[str]:
    g = geography()
    if province is None:
        return list(g.provinces)
    return [c.code for c in g.communes_of(province)]


def _scope(province: str | None, ward: str | None) -> tuple[str, str | None, str | None]:
    """(unit code for totals, province filter, ward filter); '' is the nation."""
    if ward is not None:
        return ward, geography().commune(ward).province_code, ward
    return province or "", province, None


class _Family:
    """How one kind of KPI is computed per unit, in total and as a trend."""

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        raise NotImplementedError

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        raise NotImplementedError

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        raise NotImplementedError


def _group(province: str | None) -> Literal["province", "ward"]:
    return "province" if province is None else "ward"


class _CountShare(_Family):
    """Counts of KPI facts turned into a rate or a share: value = f(counts by metric, unit)."""

    def __init__(
        self,
        metrics: Sequence[str],
        value: Callable[[dict[str, float], str], Value],
    ) -> None:
        self.metrics = tuple(metrics)
        self.value = value

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        counts: dict[str, dict[str, float]] = defaultdict(dict)
        for r in store.kpi_counts(
            self.metrics, w.since, w.until, group=_group(province), province=province
        ):
            counts[r["unit"]][r["metric"]] = r["n"]
        return {u: self.value(counts.get(u, {}), u) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        unit, p, wd = _scope(province, ward)
        rows = store.kpi_counts(self.metrics, w.since, w.until, group="total", province=p, ward=wd)
        return self.value({r["metric"]: r["n"] for r in rows}, unit)

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        unit, p, wd = _scope(province, ward)
        rows = store.kpi_count_series(self.metrics, w.since, w.until, w.grain, province=p, ward=wd)
        by_bucket: dict[Any, dict[str, float]] = defaultdict(dict)
        for r in rows:
            by_bucket[r["bucket"]][r["metric"]] = r["n"]
        out = []
        for lo, hi, partial in w.buckets():
            key = lo if w.grain == "hour" else local_day(lo)
            out.append(Point(lo, hi, self.value(by_bucket.get(key, {}), unit).value, partial))
        return out


def _per_10k(counts: dict[str, float], unit: str) -> Value:
    n = float(sum(counts.values()))
    pop = _population(unit)
    return Value(_ratio(n, pop, 10_000), n, pop, dict(counts))


def _on_time(counts: dict[str, float], unit: str) -> Value:
    arrivals = counts.get(ARRIVAL_METRIC, 0.0)
    on_time = counts.get(ON_TIME_METRIC, 0.0)
    return Value(_ratio(on_time, arrivals, 100), on_time, arrivals)


class _TransportAlarms(_Family):
    """Panic and overcrowding alarms (alarms table) per 1,000 trips (trip rollup)."""

    @staticmethod
    def _value(alarms: dict[str, float], trips: float) -> Value:
        n = float(sum(alarms.values()))
        return Value(_ratio(n, trips, 1000), n, trips, dict(alarms))

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        g = _group(province)
        trips = {
            r["unit"]: r["n"]
            for r in store.kpi_counts([TRIP_METRIC], w.since, w.until, group=g, province=province)
        }
        alarms: dict[str, dict[str, float]] = defaultdict(dict)
        for r in store.alarm_counts(
            TRANSPORT_ALARM_KINDS, w.since, w.until, group=g, province=province
        ):
            alarms[r["unit"]][r["kind"]] = r["n"]
        return {u: self._value(alarms.get(u, {}), trips.get(u, 0)) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        _, p, wd = _scope(province, ward)
        trips = store.kpi_counts(
            [TRIP_METRIC], w.since, w.until, group="total", province=p, ward=wd
        )
        alarms = store.alarm_counts(
            TRANSPORT_ALARM_KINDS, w.since, w.until, group="total", province=p, ward=wd
        )
        return self._value({r["kind"]: r["n"] for r in alarms}, sum(r["n"] for r in trips))

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        _, p, wd = _scope(province, ward)
        trips: dict[Any, float] = defaultdict(float)
        for r in store.kpi_count_series(
            [TRIP_METRIC], w.since, w.until, w.grain, province=p, ward=wd
        ):
            trips[r["bucket"]] += r["n"]
        alarms: dict[Any, dict[str, float]] = defaultdict(dict)
        for r in store.alarm_counts(
            TRANSPORT_ALARM_KINDS, w.since, w.until, group=w.grain, province=p, ward=wd
        ):
            alarms[r["unit"]][r["kind"]] = r["n"]
        out = []
        for lo, hi, partial in w.buckets():
            key = lo if w.grain == "hour" else local_day(lo)
            out.append(
                Point(lo, hi, self._value(alarms.get(key, {}), trips.get(key, 0)).value, partial)
            )
        return out


class _AlarmHandling(_Family):
    """Medians and SLA share from the alarms opened in the period."""

    def __init__(self, pick: Callable[[dict[str, Any]], Value], medians: tuple[str, ...]) -> None:
        self.pick = pick
        self.medians = medians

    def _rows(self, store: Store, w: Window, **kw: Any) -> list[dict[str, Any]]:
        return store.alarm_handling(
            w.since, w.until, w.now, ACK_SLA_S, RESOLVE_SLA_S, medians=self.medians, **kw
        )

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        rows = {
            r["unit"]: r for r in self._rows(store, w, group=_group(province), province=province)
        }
        return {u: self.pick(rows.get(u, {})) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        _, p, wd = _scope(province, ward)
        rows = self._rows(store, w, group="total", province=p, ward=wd)
        return self.pick(rows[0] if rows else {})

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        _, p, wd = _scope(province, ward)
        rows = {r["unit"]: r for r in self._rows(store, w, group=w.grain, province=p, ward=wd)}
        out = []
        for lo, hi, partial in w.buckets():
            key = lo if w.grain == "hour" else local_day(lo)
            out.append(Point(lo, hi, self.pick(rows.get(key, {})).value, partial))
        return out


def _ack_median(r: dict[str, Any]) -> Value:
    m = r.get("ack_median_s")
    return Value(None if m is None else m / 60, float(r.get("n_ack", 0)), float(r.get("n", 0)))


def _resolve_median(r: dict[str, Any]) -> Value:
    m = r.get("resolve_median_s")
    return Value(None if m is None else m / 60, float(r.get("n_resolved", 0)), float(r.get("n", 0)))


def _sla_share(r: dict[str, Any]) -> Value:
    met, missed = float(r.get("sla_met", 0)), float(r.get("sla_missed", 0))
    pending = float(r.get("n", 0)) - met - missed
    return Value(
        _ratio(met, met + missed, 100),
        met,
        met + missed,
        {"met": met, "missed": missed, "pending": pending},
    )


class _Cameras(_Family):
    """Share of camera-time without an open health condition."""

    @staticmethod
    def _value(camera_s: float, down_s: float, cameras: float = 0) -> Value:
        return Value(
            _ratio(camera_s - down_s, camera_s, 100),
            camera_s - down_s,
            camera_s,
            {"cameras": cameras, "down_hours": down_s / 3600},
        )

    @staticmethod
    def _end(w: Window) -> datetime:
        return min(w.until, w.now)

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        rows = {
            r["unit"]: r
            for r in store.camera_time(
                w.since, self._end(w), group=_group(province), province=province
            )
        }
        out = {}
        for u in _units(province):
            r = rows.get(u)
            out[u] = self._value(r["camera_s"], r["down_s"], r["cameras"]) if r else Value(None)
        return out

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        _, p, wd = _scope(province, ward)
        rows = store.camera_time(w.since, self._end(w), group="total", province=p, ward=wd)
        return (
            self._value(rows[0]["camera_s"], rows[0]["down_s"], rows[0]["cameras"])
            if rows
            else Value(None)
        )

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        _, p, wd = _scope(province, ward)
        end = self._end(w)
        first_seen, down = store.camera_intervals(w.since, end, province=p, ward=wd)
        seen = np.asarray(first_seen, dtype=float)
        starts = np.asarray([s for s, _ in down], dtype=float)
        now_s = epoch(end)
        ends = np.asarray([now_s if e is None else e for _, e in down], dtype=float)
        out = []
        for lo, hi, partial in w.buckets():
            a, b = epoch(lo), min(epoch(hi), now_s)
            if b <= a:
                out.append(Point(lo, hi, None, partial))
                continue
            camera_s = float(np.clip(b - np.maximum(seen, a), 0, None).sum())
            down_s = float(np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0, None).sum())
            out.append(Point(lo, hi, self._value(camera_s, down_s).value, partial))
        return out


class _Villages(_Family):
    """Villages with an open gap or outage at a moment; optionally the population share."""

    def __init__(self, service: str, population_share: bool = False) -> None:
        self.service = service
        self.population_share = population_share

    def _value(self, villages: float, affected: set[str], unit_communes: Sequence[str]) -> Value:
        if not self.population_share:
            return Value(villages, villages, None, {"communes": float(len(affected))})
        g = geography()
        pops = {c: g.commune(c).population or 0 for c in unit_communes}
        total = float(sum(pops.values()))
        hit = float(sum(pops.get(c, 0) for c in affected))
        return Value(_ratio(hit, total, 100), hit, total, {"communes": float(len(affected))})

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        villages: dict[str, float] = defaultdict(float)
        affected: dict[str, set[str]] = defaultdict(set)
        for r in store.villages_out(self.service, w.at, group=_group(province), province=province):
            villages[r["unit"]] += r["villages"]
            if r["ward"]:
                affected[r["unit"]].add(r["ward"])
        g = geography()
        out = {}
        for u in _units(province):
            communes = [c.code for c in g.communes_of(u)] if province is None else [u]
            out[u] = self._value(villages.get(u, 0.0), affected.get(u, set()), communes)
        return out

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        unit, p, wd = _scope(province, ward)
        rows = store.villages_out(self.service, w.at, group="total", province=p, ward=wd)
        affected = {r["ward"] for r in rows if r["ward"]}
        return self._value(sum(r["villages"] for r in rows), affected, _communes_in(unit))

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        unit, p, wd = _scope(province, ward)
        rows = store.village_intervals(self.service, w.since, w.at, province=p, ward=wd)
        starts = np.asarray([r["start_s"] for r in rows], dtype=float)
        ends = np.asarray([np.inf if r["end_s"] is None else r["end_s"] for r in rows], dtype=float)
        keys = [(r["ward"], r["village"]) for r in rows]
        communes = _communes_in(unit)
        out = []
        for lo, hi, partial in w.buckets():
            t = min(hi, w.at)
            if t <= lo:
                out.append(Point(lo, hi, None, partial))
                continue
            ts = epoch(t)
            open_ = np.nonzero((starts <= ts) & (ends > ts))[0]
            villages = {keys[i] for i in open_}
            affected = {wd_ for wd_, _ in villages if wd_}
            out.append(Point(lo, hi, self._value(len(villages), affected, communes).value, partial))
        return out


def _communes_in(unit: str) -> list[str]:
    g = geography()
    if unit == "":
        return list(g.communes)
    if len(unit) == 2:
        return [c.code for c in g.communes_of(unit)]
    return [unit]


class _Silent(_Family):
    """Devices silent longer than their domain's normal gap, at the current moment only."""

    @staticmethod
    def _value(rows: Sequence[dict[str, Any]]) -> Value:
        sources = float(sum(r["sources"] for r in rows))
        silent = float(sum(r["silent"] for r in rows))
        by_domain: dict[str, float] = defaultdict(float)
        for r in rows:
            by_domain[r["domain"]] += r["silent"]
        return Value(_ratio(silent, sources, 100), silent, sources, dict(by_domain))

    def units(self, store: Store, k: KpiDef, w: Window, province: str | None) -> dict[str, Value]:
        if w.at < floor_hour(w.now):
            return {u: Value(None) for u in _units(province)}
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in store.silent_sources(
            w.now, EXPECTED_SILENCE_S, group=_group(province), province=province
        ):
            grouped[r["unit"]].append(r)
        return {u: self._value(grouped.get(u, [])) for u in _units(province)}

    def total(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> Value:
        if w.at < floor_hour(w.now):
            return Value(None)
        _, p, wd = _scope(province, ward)
        return self._value(
            store.silent_sources(w.now, EXPECTED_SILENCE_S, group="total", province=p, ward=wd)
        )

    def series(
        self, store: Store, k: KpiDef, w: Window, province: str | None, ward: str | None
    ) -> list[Point]:
        return []


_FAMILIES: dict[str, _Family] = {
    "security_incidents": _CountShare(ORDER_INCIDENT_KINDS, _per_10k),
    "traffic_violations": _CountShare(TRAFFIC_ORDER_KINDS, _per_10k),
    "alarm_ack_median": _AlarmHandling(_ack_median, ("ack",)),
    "alarm_resolve_median": _AlarmHandling(_resolve_median, ("res",)),
    "alarm_sla": _AlarmHandling(_sla_share, ()),
    "camera_availability": _Cameras(),
    "coverage_gap_villages": _Villages("coverage"),
    "coverage_gap_population": _Villages("coverage", population_share=True),
    "power_out_villages": _Villages("power"),
    "transport_on_time": _CountShare((ARRIVAL_METRIC, ON_TIME_METRIC), _on_time),
    "transport_alarms": _TransportAlarms(),
    "silent_sources": _Silent(),
}
assert set(_FAMILIES) == set(KPIS)


def unit_values(
    store: Store, kpi_id: str, window: Window, *, province: str | None = None
) -> dict[str, Value]:
    """The KPI for every province (province=None) or every commune of one province."""
    return _FAMILIES[kpi_id].units(store, kpi(kpi_id), window, province)


def total_value(
    store: Store,
    kpi_id: str,
    window: Window,
    *,
    province: str | None = None,
    ward: str | None = None,
) -> Value:
    """The KPI for the nation, one province or one commune."""
    return _FAMILIES[kpi_id].total(store, kpi(kpi_id), window, province, ward)


def trend(
    store: Store,
    kpi_id: str,
    window: Window,
    *,
    province: str | None = None,
    ward: str | None = None,
) -> list[Point]:
    """The KPI per trend bucket (hours or local days) for the nation, a province or a commune."""
    return _FAMILIES[kpi_id].series(store, kpi(kpi_id), window, province, ward)


def ranks(values: dict[str, Value], kpi_id: str) -> dict[str, int]:
    """Rank of each unit, 1 = best for the KPI's direction; ties share a rank; no value, no rank."""
    k = kpi(kpi_id)
    have = [(u, v.value) for u, v in values.items() if v.value is not None]
    have.sort(key=lambda item: item[1], reverse=k.direction == "higher")
    out: dict[str, int] = {}
    prev: float | None = None
    rank = 0
    for i, (unit, value) in enumerate(have, start=1):
        if prev is None or not math.isclose(value, prev, rel_tol=1e-9, abs_tol=1e-12):
            rank = i
        out[unit] = rank
        prev = value
    return out


def change(current: float | None, previous: float | None, kpi_id: str) -> tuple[float | None, str]:
    """Difference to the previous period and whether it is 'better', 'worse' or 'same'."""
    if current is None or previous is None:
        return None, "none"
    delta = current - previous
    if math.isclose(delta, 0.0, abs_tol=1e-9):
        return 0.0, "same"
    improving = delta < 0 if kpi(kpi_id).direction == "lower" else delta > 0
    return delta, "better" if improving else "worse"
