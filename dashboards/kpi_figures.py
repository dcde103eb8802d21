"""Pure builders for the KPI page: texts, the choropleth and the trend chart. Rows in, figures out.

The map is a Choroplethmap on the same offline style as the live map: MapLibre with a
background layer only, polygons from this app's own GeoJSON routes (fetched once by the
browser and cached), so no tile, glyph or CDN request ever leaves a closed network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from dashboards.figures import (
    COMMUNE_OUTLINE,
    FONT,
    GRID,
    LAND,
    MUTED,
    OUTLINE,
    SEA,
    TEXT,
    esc,
    province_view,
)
from dashboards.fmt import local_time
from dashboards.i18n import TEXTS, domain_text, kind_text, t
from dashboards.kpi_data import DetailPayload, MapPayload, UnitRow
from ioc.geo import geography
from ioc.kpi import KpiDef, Point, format_number

GOOD = "#3fb68b"
BAD = "#ef4b4b"
# The map scale is colour-blind safe: orange is worse, blue is better, light in between (the
# ColorBrewer PuOr/RdBu hues). Red against green, which a deuteranope or protanope cannot
# tell apart, is not used. Blue is always "better": the scale flips for lower-is-better KPIs.
WORSE_TO_BETTER = ("#e66101", "#fdb863", "#f7f7f7", "#92c5de", "#2166ac")
SCALE_HIGHER_BETTER = [[i / 4, c] for i, c in enumerate(WORSE_TO_BETTER)]
SCALE_LOWER_BETTER = [[i / 4, c] for i, c in enumerate(reversed(WORSE_TO_BETTER))]
CVD_SAFE_SCALES = (SCALE_HIGHER_BETTER, SCALE_LOWER_BETTER)
# The offline style of the live map, plus one empty source: Plotly.react prunes an empty
# "sources" object on the second render, and MapLibre then rejects the style (map error,
# no PNG export).
KPI_MAP_STYLE: dict[str, Any] = {
    "version": 8,
    "sources": {"none": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}},
    "layers": [{"id": "sea", "type": "background", "paint": {"background-color": SEA}}],
}
CURRENT_COLOUR = "#4aa3ff"
MAP_PX = (820, 540)
PREVIOUS_COLOUR = "#7f8ea3"

# key -> (Vietnamese, English)


def kt(key: str, lang: str) -> str:
    """A KPI-page text in a language (the key when missing, so gaps show)."""
    return t(key, lang)


def breakdown_label(key: str, lang: str) -> str:
    """What a breakdown key counts: an event kind, a device domain or a KPI part."""
    if "." in key:
        return kind_text(key, lang)
    if f"kpi.bd.{key}" in TEXTS:
        return kt(f"kpi.bd.{key}", lang)
    return domain_text(key, lang) if key else "—"


@cache
def fit_view(province: str | None) -> tuple[tuple[float, float], float]:
    """Centre and zoom that fit a province's communes in the KPI map (national view else)."""
    if province is None:
        return province_view(None)
    xs: list[float] = []
    ys: list[float] = []
    for f in geography().commune_geojson(province)["features"]:
        geom = f["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        for poly in polys:
            for x, y in poly[0]:
                xs.append(x)
                ys.append(y)
    if not xs:
        return province_view(province)
    lon0, lon1, lat0, lat1 = min(xs), max(xs), min(ys), max(ys)

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    # MapLibre's world is 512 px wide at zoom 0 (Web Mercator); the map is about this big.
    zx = math.log2(MAP_PX[0] * 360 / (512 * max(lon1 - lon0, 1e-3)))
    zy = math.log2(MAP_PX[1] * 2 * math.pi / (512 * max(merc(lat1) - merc(lat0), 1e-5)))
    return ((lat0 + lat1) / 2, (lon0 + lon1) / 2), round(min(zx, zy) - 0.2, 2)


def fmt_int(value: float | None, lang: str = "vi") -> str:
    """12.345 (Vietnamese grouping; 12,345 in English) or an em dash."""
    return format_number(value, 0, lang)


def value_text(k: KpiDef, value: float | None, lang: str) -> str:
    """A KPI value with its unit, or 'no data'."""
    if value is None:
        return kt("kpi.no_data", lang)
    return f"{k.format(value, lang)} {k.unit(lang)}"


def change_text(k: KpiDef, delta: float | None, trend: str, lang: str) -> str:
    """+1,2 (kém hơn) style change to the previous period."""
    if delta is None:
        return "—"
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    word = kt(f"kpi.{trend}", lang) if trend in ("better", "worse", "same") else ""
    return f"{sign}{k.format(abs(delta), lang)} ({word})"


def period_text(since: datetime, until: datetime, tz: str, lang: str) -> str:
    """'00:00 14/11/2026 – 17:00 20/11/2026' in local time."""
    a, b = local_time(since, tz), local_time(until, tz)
    return f"{a:%H:%M %d/%m/%Y} – {b:%H:%M %d/%m/%Y}"


def _hover_rows(rows: Sequence[UnitRow], k: KpiDef, lang: str, compare: bool) -> list[list[str]]:
    out = []
    for r in rows:
        rank = f"{r.rank}/{r.ranked}" if r.rank is not None else "—"
        area = f"{format_number(r.area_km2, 1, lang)} km²" if r.area_km2 else "—"
        population = (
            f"{fmt_int(r.population, lang)} {kt('kpi.people', lang)}"
            f" ({kt('kpi.pop.' + r.population_method, lang)})"
            if r.population
            else "—"
        )
        prev = ""
        if compare:
            prev = (
                f"<br>{kt('kpi.previous', lang)}: {esc(value_text(k, r.previous, lang))}"
                f"<br>{kt('kpi.change', lang)}: {esc(change_text(k, r.delta, r.trend, lang))}"
            )
        out.append([esc(r.name), esc(value_text(k, r.value, lang)), rank, population, area, prev])
    return out


def kpi_map_figure(
    payload: MapPayload, lang: str, selected: str | None = None, *, base_url: str = ""
) -> dict[str, Any]:
    """Choropleth of the KPI over provinces, or over one province's communes.

    Trace 0 holds the values, trace 1 outlines the selected unit (patched on selection).
    base_url ("http://host:port") makes the GeoJSON URLs absolute: MapLibre fetches layer
    sources in a web worker, where a relative URL does not resolve.
    """
    k = payload.kpi
    rows = payload.rows
    province = payload.province
    base = base_url.rstrip("/")
    provinces_url = f"{base}/geo/provinces.geojson"
    geojson = provinces_url if province is None else f"{base}/geo/communes/{province}.geojson"
    z = [math.nan if r.value is None else r.value for r in rows]
    have = [v for v in z if not math.isnan(v)]
    zmin, zmax = (min(have), max(have)) if have else (0.0, 1.0)
    if zmax - zmin < 1e-9:
        zmax = zmin + 1.0
    level = kt("kpi.province" if province is None else "kpi.commune", lang)
    hover = (
        "<b>%{customdata[0]}</b><br>"
        f"{esc(k.name(lang))}: %{{customdata[1]}}<br>"
        f"{kt('kpi.rank', lang)}: %{{customdata[2]}}<br>"
        f"{kt('kpi.population', lang)}: %{{customdata[3]}}<br>"
        f"{kt('kpi.area', lang)}: %{{customdata[4]}}"
        "%{customdata[5]}<extra></extra>"
    )
    scale = SCALE_LOWER_BETTER if k.direction == "lower" else SCALE_HIGHER_BETTER
    # Plain dicts, not go.Figure: plotly's validation would cost more than the queries.
    values = {
        "type": "choroplethmap",
        "geojson": geojson,
        "featureidkey": "properties.code",
        "locations": [r.code for r in rows],
        "z": [None if math.isnan(v) else v for v in z],
        "zmin": zmin,
        "zmax": zmax,
        "colorscale": scale,
        "marker": {"opacity": 0.85, "line": {"width": 0.6, "color": OUTLINE}},
        "customdata": _hover_rows(rows, k, lang, payload.compare),
        "hovertemplate": hover,
        "colorbar": {
            "title": {"text": esc(k.unit(lang)), "side": "right"},
            "thickness": 12,
            "len": 0.6,
            "x": 0.99,
            "xanchor": "right",
            "bgcolor": "rgba(10,17,32,0.6)",
            "tickfont": {"size": 11},
        },
        "name": level,
    }
    highlight = {
        "type": "choroplethmap",
        "geojson": geojson,
        "featureidkey": "properties.code",
        "locations": [selected] if selected else [],
        "z": [1] if selected else [],
        "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
        "showscale": False,
        "marker": {"line": {"width": 3, "color": "#ffffff"}},
        "hoverinfo": "skip",
        "name": "selected",
    }
    (lat, lon), zoom = fit_view(province)
    layers: list[dict[str, Any]] = [
        {
            "sourcetype": "geojson",
            "source": provinces_url,
            "type": "fill",
            "color": LAND,
            "below": "traces",
        },
        {
            "sourcetype": "geojson",
            "source": provinces_url,
            "type": "line",
            "color": OUTLINE,
            "line": {"width": 1.0},
            "below": "traces",
        },
    ]
    if province is not None:
        layers.append(
            {
                "sourcetype": "geojson",
                "source": geojson,
                "type": "line",
                "color": COMMUNE_OUTLINE,
                "line": {"width": 0.5},
                "below": "traces",
            }
        )
    layout = {
        "map": {
            "style": KPI_MAP_STYLE,
            "center": {"lat": lat, "lon": lon},
            "zoom": zoom,
            "layers": layers,
        },
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "paper_bgcolor": SEA,
        "font": {"family": FONT, "color": TEXT, "size": 13},
        "showlegend": False,
        "hoverlabel": {"bgcolor": "#17233a", "bordercolor": OUTLINE, "font": {"family": FONT}},
        "uirevision": f"kpi-{province or 'all'}",
        "meta": {"kpi": k.id, "province": province or "", "window": payload.window.key},
    }
    return {"data": [values, highlight], "layout": layout}


def _x(points: Sequence[Point], tz: str) -> list[str]:
    return [local_time(p.start, tz).strftime("%Y-%m-%d %H:%M") for p in points]


def kpi_trend_figure(payload: DetailPayload, lang: str, tz: str) -> dict[str, Any]:
    """This period's KPI per hour or day, and the previous period on the same axis, dashed."""
    k = payload.kpi
    points = payload.points
    x = _x(points, tz)
    data: list[dict[str, Any]] = []
    if payload.previous_points:
        prev = payload.previous_points[: len(points)]
        data.append(
            {
                "type": "scatter",
                "x": x[: len(prev)],
                "y": [p.value for p in prev],
                "mode": "lines",
                "name": kt("kpi.previous_period", lang),
                "line": {"color": PREVIOUS_COLOUR, "dash": "dash", "width": 1.5},
                "customdata": _x(prev, tz),
                "hovertemplate": "%{customdata}: %{y}<extra>"
                + kt("kpi.previous_period", lang)
                + "</extra>",
            }
        )
    data.append(
        {
            "type": "scatter",
            "x": x,
            "y": [p.value for p in points],
            "mode": "lines+markers",
            "name": kt("kpi.current_period", lang),
            "line": {"color": CURRENT_COLOUR, "width": 2.2},
            # A bucket not yet over (today so far) is drawn hollow: its value is not final.
            "marker": {
                "size": 6,
                "color": ["rgba(0,0,0,0)" if p.partial else CURRENT_COLOUR for p in points],
                "line": {"color": CURRENT_COLOUR, "width": 1.5},
            },
            "text": [kt("kpi.partial", lang) if p.partial else "" for p in points],
            "hovertemplate": "%{x}: %{y} %{text}<extra></extra>",
        }
    )
    axis = {"gridcolor": GRID, "zeroline": False, "linecolor": GRID, "color": MUTED}
    layout = {
        "margin": {"l": 48, "r": 8, "t": 8, "b": 32},
        "height": 230,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "color": TEXT, "size": 12},
        "legend": {"orientation": "h", "y": 1.12, "x": 0, "font": {"size": 11}},
        "hoverlabel": {"bgcolor": "#17233a", "bordercolor": OUTLINE, "font": {"family": FONT}},
        "separators": ",." if lang == "vi" else ".,",
        "xaxis": {
            **axis,
            "type": "date",
            "tickformat": "%H:%M<br>%d/%m" if payload.window.grain == "hour" else "%d/%m",
        },
        "yaxis": {
            **axis,
            "rangemode": "tozero",
            "title": {"text": k.unit(lang), "font": {"size": 11}},
            "tickformat": f",.{k.decimals}f" if k.decimals else ",d",
        },
        "meta": {"kpi": k.id, "unit": payload.ward or payload.province or ""},
    }
    return {"data": data, "layout": layout}


def sparkline_svg(
    values: Sequence[float | None],
    *,
    width: int = 120,
    height: int = 28,
    colour: str = CURRENT_COLOUR,
) -> str:
    """A small inline SVG line of a trend (gaps where there is no value), for the report."""
    have = [v for v in values if v is not None]
    if len(have) < 2:
        return ""
    lo, hi = min(have), max(have)
    span = hi - lo or 1.0
    step = width / max(len(values) - 1, 1)
    parts: list[str] = []
    pen = "M"
    for i, v in enumerate(values):
        if v is None:
            pen = "M"
            continue
        y = height - 2 - (v - lo) / span * (height - 4)
        parts.append(f"{pen}{i * step:.1f},{y:.1f}")
        pen = "L"
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><path d="{" ".join(parts)}" fill="none" '
        f'stroke="{colour}" stroke-width="1.5"/></svg>'
    )


def colour_for(value: float | None, zmin: float, zmax: float, direction: str) -> str:
    """The map colour of a value (same scale as the choropleth), grey without a value."""
    if value is None:
        return "#d0d5dd"
    t = 0.5 if zmax - zmin < 1e-12 else (value - zmin) / (zmax - zmin)
    t = min(1.0, max(0.0, t))
    scale = SCALE_LOWER_BETTER if direction == "lower" else SCALE_HIGHER_BETTER
    for (a, ca), (b, cb) in zip(scale, scale[1:], strict=False):
        if t <= b:
            f = 0.0 if b == a else (t - a) / (b - a)
            return _mix(ca, cb, f)
    return scale[-1][1]


def _mix(a: str, b: str, f: float) -> str:
    ra, ga, ba = (int(a[i : i + 2], 16) for i in (1, 3, 5))
    rb, gb, bb = (int(b[i : i + 2], 16) for i in (1, 3, 5))
    return f"#{round(ra + (rb - ra) * f):02x}{round(ga + (gb - ga) * f):02x}{round(ba + (bb - ba) * f):02x}"


GOOD_BAD = {"better": GOOD, "worse": BAD}
