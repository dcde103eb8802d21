"""KPI page pieces built from payloads: ranking table, definition legend, unit summary.

Pure: payloads in, Dash components out, so `ioc bench dashboard` can time exactly what
the callbacks return.
"""

from __future__ import annotations

from typing import Any

from dash import html

from dashboards.kpi_data import DetailPayload, MapPayload
from dashboards.kpi_figures import (
    GOOD_BAD,
    breakdown_label,
    change_text,
    fmt_int,
    kpi_map_figure,
    kpi_trend_figure,
    kt,
    period_text,
    value_text,
)
from ioc import kpi
from ioc.geo import geography

TABLE_LIMIT = 200


def _el(tag: str, children: Any = None, **props: Any) -> dict[str, Any]:
    """An html component as the JSON Dash sends: a large table is built 50x faster this way
    than from component objects, and the browser receives the same thing."""
    if children is not None:
        props["children"] = children
    return {"type": tag, "namespace": "dash_html_components", "props": props}


def table_block(payload: MapPayload, lang: str, selected: str | None = None) -> dict[str, Any]:
    """The ranking table: best first; a click on a row selects that unit."""
    k = payload.kpi
    level = kt("kpi.province" if payload.province is None else "kpi.commune", lang)
    head = [kt("kpi.rank", lang), level, k.unit(lang)]
    if payload.compare:
        head += [kt("kpi.previous", lang), kt("kpi.change", lang)]
    rows = []
    for r in payload.rows[:TABLE_LIMIT]:
        cells = [
            _el("Td", r.rank if r.rank is not None else "—", className="kpi-rank"),
            _el("Td", r.name, className="kpi-name"),
            _el("Td", k.format(r.value, lang), className="kpi-value"),
        ]
        if payload.compare:
            cells += [
                _el("Td", k.format(r.previous, lang), className="kpi-num"),
                _el(
                    "Td", change_text(k, r.delta, r.trend, lang), className=f"kpi-change {r.trend}"
                ),
            ]
        rows.append(
            _el(
                "Tr",
                cells,
                id={"type": "kpi-row", "code": r.code},
                className="kpi-row selected" if r.code == selected else "kpi-row",
                n_clicks=0,
            )
        )
    return _el(
        "Table",
        [_el("Thead", _el("Tr", [_el("Th", h) for h in head])), _el("Tbody", rows)],
        className="table kpi-ranking",
        id="kpi-ranking",
    )


def legend_block(k: kpi.KpiDef, lang: str) -> list[Any]:
    """The KPI's definition next to the map: formula, unit, direction, source events."""
    return [
        html.Div(
            [
                html.Span(k.name(lang), className="kpi-legend-name"),
                html.Span(f"({k.unit(lang)}, {k.better(lang)})", className="muted"),
            ]
        ),
        html.Div([html.Span(kt("kpi.formula", lang) + ": ", className="muted"), k.formula(lang)]),
        html.Div(
            [
                html.Span(kt("kpi.sources", lang) + ": ", className="muted"),
                html.Span(", ".join(k.sources), className="mono"),
            ]
        ),
    ]


def map_outputs(
    payload: MapPayload,
    lang: str,
    tz: str,
    ward: str | None,
    national_allowed: bool,
    base_url: str = "",
) -> tuple[Any, ...]:
    """Figure, table, legend, heading and back-button style for one map payload."""
    w = payload.window
    place = (
        kt("kpi.national", lang)
        if payload.province is None
        else geography().province(payload.province).name
    )
    heading = [
        html.Span(payload.kpi.name(lang)),
        html.Span(f" · {place} · {period_text(w.since, w.until, tz, lang)}", className="muted"),
    ]
    back = {} if (payload.province is not None and national_allowed) else {"display": "none"}
    return (
        kpi_map_figure(payload, lang, selected=ward, base_url=base_url),
        table_block(payload, lang, ward),
        legend_block(payload.kpi, lang),
        heading,
        back,
    )


def summary_block(d: DetailPayload, lang: str) -> list[Any]:
    """The selected unit's value, change against the previous period and what it is made of."""
    k = d.kpi
    prev = d.previous.value if d.previous else None
    delta, trend = kpi.change(d.value.value, prev, k.id)
    parts: list[Any] = [
        html.Div(
            d.name if d.ward or d.province else kt("kpi.national", lang),
            className="kpi-unit-name",
            id="kpi-unit-name",
        ),
        html.Div(
            [
                html.Span(
                    k.format(d.value.value, lang), className="big-number", id="kpi-unit-value"
                ),
                html.Span(k.unit(lang), className="muted"),
            ],
            className="stat",
        ),
    ]
    if d.previous is not None:
        parts.append(
            html.Div(
                [
                    html.Span(f"{kt('kpi.previous', lang)}: {value_text(k, prev, lang)} · "),
                    html.Span(
                        change_text(k, delta, trend, lang),
                        className=f"kpi-change {trend}",
                        style={"color": GOOD_BAD[trend]} if trend in GOOD_BAD else None,
                    ),
                ],
                className="small",
            )
        )
    if d.value.breakdown:
        items = [
            f"{breakdown_label(name, lang)}: "
            + (fmt_int(v, lang) if float(v).is_integer() else kpi.format_number(v, 1, lang))
            for name, v in sorted(d.value.breakdown.items(), key=lambda kv: -kv[1])
        ]
        parts.append(html.Div(" · ".join(items), className="muted small kpi-breakdown"))
    if not k.has_trend:
        parts.append(html.P(kt("kpi.no_trend", lang), className="muted small"))
    return parts


def detail_outputs(d: DetailPayload, lang: str, tz: str) -> tuple[list[Any], dict[str, Any]]:
    """Summary and trend figure for one detail payload."""
    return summary_block(d, lang), kpi_trend_figure(d, lang, tz)
