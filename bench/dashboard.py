"""`ioc bench dashboard`: time the KPI page's data callbacks on a seeded store.

Each sample is what a callback does on the server: the store queries (current and
previous period), the KPI arithmetic, the figure and components, and the JSON that
Dash sends. Views: the national map, one province (its summary and trend), the
commune drill-down (map of one province's communes, then one commune's trend); each
for the 24 h, 7 d, 30 d and a custom 14-day window, over every KPI.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from plotly.io.json import to_json_plotly

from dashboards.components.kpi import detail_outputs, map_outputs
from dashboards.kpi_data import detail_payload, map_payload
from ioc import kpi
from ioc.geo import geography
from ioc.store import Store

TARGET_MS = 300.0
# Big and small, north, centre and south: Hà Nội, TP HCM, Lâm Đồng, Lai Châu, Huế, Cà Mau.
DEFAULT_PROVINCES = ("01", "79", "68", "12", "46", "96")
WINDOWS = ("24h", "7d", "30d", "custom")
TZ = "Asia/Ho_Chi_Minh"


def _windows(now: datetime) -> dict[str, kpi.Window]:
    today = (now + timedelta(hours=7)).date()
    out = {key: kpi.make_window(key, now) for key in WINDOWS if key != "custom"}
    out["custom"] = kpi.make_window(
        "custom", now, start=today - timedelta(days=20), end=today - timedelta(days=7)
    )
    return out


def _busiest_ward(store: Store, province: str, window: kpi.Window) -> str:
    rows = store.kpi_counts(
        kpi.INCIDENT_KINDS, window.since, window.until, group="ward", province=province
    )
    rows = [r for r in rows if r["unit"]]
    if rows:
        return max(rows, key=lambda r: r["n"])["unit"]
    return geography().communes_of(province)[0].code


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def run_bench(
    store: Store,
    *,
    now: datetime | None = None,
    provinces: tuple[str, ...] = DEFAULT_PROVINCES,
    repeat: int = 2,
    kpis: tuple[str, ...] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time every (callback, view, window) over every KPI; p50/p95/max in milliseconds."""
    if now is None:
        newest = store.newest_event_ts() or datetime.now(UTC)
        # The hour holding the newest event is complete enough: windows end at its end.
        now = newest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    windows = _windows(now)
    kpi_ids = kpis or tuple(kpi.KPIS)
    samples: dict[tuple[str, str, str], list[tuple[float, str, float]]] = defaultdict(list)

    def timed(key: tuple[str, str, str], kpi_id: str, fn: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        t_data = fn()
        total = (time.perf_counter() - t0) * 1000
        samples[key].append((total, kpi_id, t_data))

    def map_call(kpi_id: str, w: kpi.Window, province: str | None) -> float:
        t0 = time.perf_counter()
        payload = map_payload(store, kpi_id, w, province)
        data_ms = (time.perf_counter() - t0) * 1000
        out = map_outputs(payload, "vi", TZ, None, True, base_url="http://localhost:8050/")
        to_json_plotly(list(out))
        return data_ms

    def detail_call(kpi_id: str, w: kpi.Window, province: str | None, ward: str | None) -> float:
        t0 = time.perf_counter()
        d = detail_payload(store, kpi_id, w, province, ward)
        data_ms = (time.perf_counter() - t0) * 1000
        to_json_plotly(list(detail_outputs(d, "vi", TZ)))
        return data_ms

    wards = {p: _busiest_ward(store, p, windows["30d"]) for p in provinces}
    for rep in range(repeat + 1):  # the first pass warms caches and is not counted
        for wkey, w in windows.items():
            for kpi_id in kpi_ids:
                k, win = kpi_id, w
                runs: list[tuple[tuple[str, str, str], Callable[[], Any]]] = [
                    (("map", "national", wkey), lambda k=k, win=win: map_call(k, win, None)),
                    (
                        ("detail", "national", wkey),
                        lambda k=k, win=win: detail_call(k, win, None, None),
                    ),
                ]
                for p in provinces:
                    runs += [
                        (
                            ("detail", "province", wkey),
                            lambda p=p, k=k, win=win: detail_call(k, win, p, None),
                        ),
                        (("map", "communes", wkey), lambda p=p, k=k, win=win: map_call(k, win, p)),
                        (
                            ("detail", "commune", wkey),
                            lambda p=p, k=k, win=win: detail_call(k, win, p, wards[p]),
                        ),
                    ]
                for key, fn in runs:
                    if rep == 0:
                        fn()
                    else:
                        timed(key, kpi_id, fn)
            if log is not None:
                log(f"pass {rep}/{repeat} window {wkey} done")
    results = []
    for (cb, view, wkey), items in sorted(samples.items()):
        totals = [t for t, _, _ in items]
        data = [d for _, _, d in items]
        per_kpi: dict[str, list[float]] = defaultdict(list)
        for t, k, _ in items:
            per_kpi[k].append(t)
        worst = max(per_kpi.items(), key=lambda kv: _percentile(kv[1], 0.95))
        results.append(
            {
                "callback": cb,
                "view": view,
                "window": wkey,
                "samples": len(items),
                "p50_ms": round(statistics.median(totals), 1),
                "p95_ms": round(_percentile(totals, 0.95), 1),
                "max_ms": round(max(totals), 1),
                "data_p95_ms": round(_percentile(data, 0.95), 1),
                "worst_kpi": worst[0],
                "worst_kpi_p95_ms": round(_percentile(worst[1], 0.95), 1),
            }
        )
    counts = store.table_counts()
    return {
        "backend": store.backend,
        "events": counts.get("events"),
        "alarms": counts.get("alarms"),
        "kpi_tables": store.kpi_table_sizes(),
        "now": now.isoformat(),
        "provinces": list(provinces),
        "kpis": list(kpi_ids),
        "repeat": repeat,
        "target_ms": TARGET_MS,
        "results": results,
        "worst_p95_ms": max((r["p95_ms"] for r in results), default=0.0),
        "pass": all(r["p95_ms"] <= TARGET_MS for r in results),
    }


@click.command("dashboard")
@click.option("--db-url", help="Store URL (overrides IOC_DB_URL and the global option).")
@click.option("--repeat", default=2, show_default=True, help="Timed passes over all cases.")
@click.option(
    "--now",
    "now_text",
    help="Clock for the windows (ISO 8601; default: the hour after the newest stored event).",
)
@click.option(
    "--province",
    "provinces",
    multiple=True,
    help="Provinces for the one-province and commune views (repeatable).",
)
@click.option("--kpi", "kpis", multiple=True, help="Only these KPIs (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def bench_dashboard(
    ctx: click.Context,
    db_url: str | None,
    repeat: int,
    now_text: str | None,
    provinces: tuple[str, ...],
    kpis: tuple[str, ...],
    as_json: bool,
) -> None:
    """p50/p95 of the KPI map's data callbacks (national, province, communes; each window)."""
    import sys

    from ioc.cli import Ctx
    from ioc.store import StoreError, open_store

    found = ctx.find_object(Ctx)
    url = db_url or (found.settings.db_url if found else "")
    for k in kpis:
        if k not in kpi.KPIS:
            raise click.BadParameter(f"unknown KPI {k!r}", param_hint="--kpi")
    now = datetime.fromisoformat(now_text) if now_text else None
    try:
        store = open_store(url, migrate=True)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        result = run_bench(
            store,
            now=now,
            provinces=provinces or DEFAULT_PROVINCES,
            repeat=repeat,
            kpis=kpis or None,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"{result['backend']}: {result['events']:,} events, clock {result['now']}")
    click.echo(
        f"{'callback':<8} {'view':<9} {'window':<7} {'n':>4} {'p50':>8} {'p95':>8} "
        f"{'max':>8}  worst KPI (p95)"
    )
    for r in result["results"]:
        click.echo(
            f"{r['callback']:<8} {r['view']:<9} {r['window']:<7} {r['samples']:>4} "
            f"{r['p50_ms']:>7.1f}ms {r['p95_ms']:>7.1f}ms {r['max_ms']:>7.1f}ms  "
            f"{r['worst_kpi']} ({r['worst_kpi_p95_ms']:.1f} ms)"
        )
    verdict = "meets" if result["pass"] else "misses"
    click.echo(
        f"worst p95 {result['worst_p95_ms']:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target"
    )
