"""What the KPI page shows, assembled from ioc.kpi: plain rows, no Dash and no request state.

The page's callbacks and `ioc bench dashboard` both call these, so the benchmark
measures exactly what a leader waits for.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from dashboards.fmt import local_time
from ioc import kpi
from ioc.geo import geography
from ioc.kpi import KpiDef, Point, Value, Window
from ioc.store import Store


def run_side_by_side(store: Store, calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Results of independent store reads, concurrently on PostgreSQL (pooled connections).

    On SQLite they run one after the other: its connections are per thread and a fresh
    thread would open (and keep) a new one; its reads are fast enough in sequence anyway.
    """
    if not store.parallel_reads or len(calls) < 2:
        return [call() for call in calls]
    # A pool per call: a long-lived one would not survive a fork, nor dash.testing's
    # thread killer, and these few threads cost well under a millisecond.
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="kpi-query") as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]


@dataclass(frozen=True, slots=True)
class UnitRow:
    """One province or commune on the map and in the ranking table."""

    code: str
    name: str
    value: float | None
    previous: float | None
    delta: float | None
    trend: str
    rank: int | None
    ranked: int
    population: int | None
    area_km2: float | None
    numerator: float
    denominator: float | None
    breakdown: dict[str, float] = field(default_factory=dict)
    # How the population figure was made: "published", "scaled" or "estimated" (ioc.geo).
    population_method: str = "published"


@dataclass(frozen=True, slots=True)
class MapPayload:
    """The map and table of one KPI: provinces (province=None) or one province's communes."""

    kpi: KpiDef
    window: Window
    province: str | None
    rows: list[UnitRow]
    compare: bool


@dataclass(frozen=True, slots=True)
class DetailPayload:
    """One unit's value, its previous-period value and its trend."""

    kpi: KpiDef
    window: Window
    province: str | None
    ward: str | None
    name: str
    value: Value
    previous: Value | None
    points: list[Point]
    previous_points: list[Point]


def unit_name(code: str | None) -> str:
    """Official name with diacritics; '' is the nation."""
    g = geography()
    if not code:
        return "Việt Nam"
    if len(code) == 2:
        return g.province(code).name
    return g.commune(code).name


def _unit_facts(code: str) -> tuple[int | None, float | None, str]:
    g = geography()
    if len(code) == 2:
        p = g.province(code)
        return p.population, p.area_km2, "published"
    c = g.commune(code)
    return c.population, c.area_km2, c.population_method


def map_payload(
    store: Store, kpi_id: str, window: Window, province: str | None, *, compare: bool = True
) -> MapPayload:
    """Values, previous-period values and ranks of every unit shown on the map."""
    calls: list[Callable[[], Any]] = [
        lambda: kpi.unit_values(store, kpi_id, window, province=province)
    ]
    if compare:
        calls.append(lambda: kpi.unit_values(store, kpi_id, window.previous(), province=province))
    results = run_side_by_side(store, calls)
    current = results[0]
    previous = results[1] if compare else {}
    ranks = kpi.ranks(current, kpi_id)
    rows = []
    for code, v in current.items():
        prev = previous.get(code)
        delta, trend = kpi.change(v.value, prev.value if prev else None, kpi_id)
        population, area, method = _unit_facts(code)
        rows.append(
            UnitRow(
                code=code,
                name=unit_name(code),
                value=v.value,
                previous=prev.value if prev else None,
                delta=delta,
                trend=trend,
                rank=ranks.get(code),
                ranked=len(ranks),
                population=population,
                population_method=method,
                area_km2=area,
                numerator=v.numerator,
                denominator=v.denominator,
                breakdown=dict(v.breakdown),
            )
        )
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.name))
    return MapPayload(kpi.kpi(kpi_id), window, province, rows, compare)


def detail_payload(
    store: Store,
    kpi_id: str,
    window: Window,
    province: str | None,
    ward: str | None = None,
    *,
    compare: bool = True,
) -> DetailPayload:
    """The selected unit (nation, province or commune): value, previous value, trend lines."""
    k = kpi.kpi(kpi_id)
    prev_window = window.previous()
    where = {"province": province, "ward": ward}
    calls: list[Callable[[], Any]] = [lambda: kpi.total_value(store, kpi_id, window, **where)]
    if compare:
        calls.append(lambda: kpi.total_value(store, kpi_id, prev_window, **where))
    if k.has_trend:
        calls.append(lambda: kpi.trend(store, kpi_id, window, **where))
        if compare:
            calls.append(lambda: kpi.trend(store, kpi_id, prev_window, **where))
    out = iter(run_side_by_side(store, calls))
    value = next(out)
    previous = next(out) if compare else None
    points = next(out) if k.has_trend else []
    prev_points = next(out) if k.has_trend and compare else []
    results = (value, previous, points, prev_points)
    return DetailPayload(k, window, province, ward, unit_name(ward or province), *results)


def csv_text(payload: MapPayload, lang: str, tz: str) -> str:
    """The ranking table as CSV (UTF-8 with BOM so spreadsheet programs read the diacritics)."""
    k = payload.kpi
    w = payload.window
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    vi = lang == "vi"
    period = f"{_stamp(w.since, tz)} – {_stamp(w.until, tz)} ({tz})"
    writer.writerow(["# " + k.name(lang), k.unit(lang), period])
    writer.writerow(
        [
            "ma" if vi else "code",
            "ten" if vi else "name",
            "gia_tri" if vi else "value",
            "ky_truoc" if vi else "previous",
            "chenh_lech" if vi else "change",
            "xu_huong" if vi else "trend",
            "hang" if vi else "rank",
            "tu_so" if vi else "numerator",
            "mau_so" if vi else "denominator",
            "dan_so" if vi else "population",
            "dien_tich_km2" if vi else "area_km2",
        ]
    )
    for r in payload.rows:
        writer.writerow(
            [
                r.code,
                r.name,
                _num(r.value),
                _num(r.previous),
                _num(r.delta),
                r.trend,
                r.rank if r.rank is not None else "",
                _num(r.numerator),
                _num(r.denominator),
                _num(r.population),
                _num(r.area_km2),
            ]
        )
    return out.getvalue()


def _num(value: float | int | None) -> str:
    """Plain dot decimals, never an exponent: spreadsheets read 4.19982e+06 as text or lose digits."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return np.format_float_positional(round(float(value), 9), trim="-")


def _stamp(ts: datetime, tz: str) -> str:
    return local_time(ts, tz).strftime("%Y-%m-%d %H:%M")
