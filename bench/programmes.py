"""`ioc bench programmes`: time the programme and review pages' callbacks on a store.

Each sample is what a callback does on the server: the store queries, the progress
arithmetic, the figure and components, and the JSON Dash sends. Views: national and each
given province, for every programme; the review over 7 days ending on a few days.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import click
from plotly.io.json import to_json_plotly

from dashboards.components.programmes import (
    camera_section,
    cards,
    places_table,
    review_places,
    summary,
)
from dashboards.programme_data import programme_view, progress_figure, review
from ioc.programmes import PROGRAMMES
from ioc.store import Store

TARGET_MS = 150.0
DEFAULT_PROVINCES = ("01", "79", "68", "12", "46", "96")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx] if ordered else 0.0


def run_bench(
    store: Store, *, on: date, provinces: tuple[str, ...], repeat: int = 3, lang: str = "vi"
) -> dict[str, Any]:
    """p50/p95/max in milliseconds of the programme (per programme) and review callbacks."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    views: list[tuple[str, str | None]] = [("national", None)] + [(p, p) for p in provinces]
    # One pass untimed first: it opens the pool's connections and warms the caches.
    for rep in range(repeat + 1):
        for name, province in views:
            for key in PROGRAMMES:
                began = time.perf_counter()
                view = programme_view(store, key, province, on)
                to_json_plotly(
                    [cards(view, lang), progress_figure(view, lang), places_table(view, lang),
                     camera_section(view, lang)]
                )  # fmt: skip
                if rep:
                    samples[(f"programmes:{key}", name)].append(
                        (time.perf_counter() - began) * 1000
                    )
            for back in (0, 30, 90):
                until = on - timedelta(days=back)
                began = time.perf_counter()
                r = review(store, province, until - timedelta(days=7), until)
                to_json_plotly([summary(r, lang), review_places(r, lang)])
                if rep:
                    samples[("review", name)].append((time.perf_counter() - began) * 1000)
    results = [
        {
            "callback": cb,
            "view": view,
            "samples": len(ms),
            "p50_ms": round(_percentile(ms, 0.5), 1),
            "p95_ms": round(_percentile(ms, 0.95), 1),
            "max_ms": round(max(ms), 1),
        }
        for (cb, view), ms in sorted(samples.items())
    ]
    worst = max((r["p95_ms"] for r in results), default=0.0)
    return {
        "backend": store.backend,
        "on": on.isoformat(),
        "results": results,
        "worst_p95_ms": worst,
        "target_ms": TARGET_MS,
        "pass": worst <= TARGET_MS,
    }


@click.command("programmes")
@click.option("--db-url", help="Store URL (overrides IOC_DB_URL and the global option).")
@click.option("--repeat", default=3, show_default=True, help="Timed passes over all cases.")
@click.option("--on", "on_text", default=None, help="Progress day (default: today).")
@click.option("--province", "provinces", multiple=True, help="Provinces to time (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def bench_programmes(
    ctx: click.Context,
    db_url: str | None,
    repeat: int,
    on_text: str | None,
    provinces: tuple[str, ...],
    as_json: bool,
) -> None:
    """p50/p95 of the programme and review pages' callbacks (national and provinces)."""
    from ioc.cli import Ctx
    from ioc.store import StoreError, open_store

    found = ctx.find_object(Ctx)
    url = db_url or (found.settings.db_url if found else "")
    try:
        on = date.fromisoformat(on_text) if on_text else date.today()
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--on") from None
    try:
        store = open_store(url, migrate=True)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        result = run_bench(store, on=on, provinces=provinces or DEFAULT_PROVINCES, repeat=repeat)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"{result['backend']}: programmes as of {result['on']}")
    click.echo(f"{'callback':<22} {'view':<9} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}")
    for r in result["results"]:
        click.echo(
            f"{r['callback']:<22} {r['view']:<9} {r['samples']:>4} {r['p50_ms']:>7.1f}ms "
            f"{r['p95_ms']:>7.1f}ms {r['max_ms']:>7.1f}ms"
        )
    verdict = "meets" if result["pass"] else "misses"
    click.echo(
        f"worst p95 {result['worst_p95_ms']:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target"
    )
