"""Pure figure builders: rows in, plotly figures out. No store, no request state.

The map uses MapLibre through go.Scattermap on an inline style with only a background
layer: no tile server, no glyph server (no text layers, no clustering, which needs
glyphs for its counts), no icon CDN (circle markers only). Outlines come from our own
GeoJSON, served by this app.

Circle markers only, so each map layer is told apart by a colour of its own from the
Okabe-Ito palette (safe for the common colour-vision deficiencies) and by a size band of
its own; within a layer, severity or camera trouble grows the marker inside its band, never
changing the hue or the opacity, so the legend swatch matches every point of its layer
(plotly draws a swatch with the mean opacity of its points).
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import plotly.graph_objects as go

from dashboards.fmt import (
    DOMAIN_COLOURS,
    HEALTH_COLOURS,
    fmt_time,
    local_time,
)
from dashboards.i18n import domain_text, severity_text, t
from ioc.geo import geography

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', sans-serif"
TEXT = "#c9d4e5"
MUTED = "#7f8ea3"
GRID = "#223049"
SEA = "#0a1120"
LAND = "#131d30"
OUTLINE = "#3b4e72"
COMMUNE_OUTLINE = "#2a3a58"
NATIONAL_VIEW = ((16.2, 106.3), 4.4)
# Above this many incident points the map shows communes as bubbles instead.
MAX_INCIDENT_POINTS = 1500

# "sources" must not be empty: an empty object is dropped on the way to MapLibre, which
# then rejects the style ("missing required property sources") on every relayout.
OFFLINE_STYLE: dict[str, Any] = {
    "version": 8,
    "sources": {
        "empty": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}
    },
    "layers": [{"id": "sea", "type": "background", "paint": {"background-color": SEA}}],
}


# Okabe & Ito (2008), "Color Universal Design"; black is left out (the map is dark).
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}


@dataclass(frozen=True)
class LayerStyle:
    """How one map layer looks: one colour, a size band of its own, an opacity."""

    colour: str
    size: tuple[int, int]  # smallest and largest marker of the layer
    opacity: float = 0.9


MAP_LAYER_STYLES: dict[str, LayerStyle] = {
    "incident_areas": LayerStyle(OKABE_ITO["orange"], (20, 40), 0.6),
    "incidents": LayerStyle(OKABE_ITO["vermillion"], (13, 18)),
    "gaps": LayerStyle(OKABE_ITO["reddish_purple"], (12, 12)),
    "outages": LayerStyle(OKABE_ITO["yellow"], (11, 11)),
    "buses": LayerStyle(OKABE_ITO["bluish_green"], (10, 10), 1.0),
    "cameras": LayerStyle(OKABE_ITO["sky_blue"], (6, 9)),
}
# Camera health on the map: a camera in trouble is a larger dot (the hover says which).
CAMERA_EMPHASIS = {"ok": 0.0, "unknown": 1 / 3, "fault": 2 / 3, "offline": 1.0}


def _sized(style: LayerStyle, fraction: float) -> float:
    lo, hi = style.size
    return round(lo + (hi - lo) * max(0.0, min(1.0, fraction)), 1)


@dataclass
class MapData:
    """Everything the live map shows, already scoped and formatted."""

    province: str | None = None
    incidents: list[dict[str, Any]] = field(default_factory=list)
    incident_areas: list[dict[str, Any]] = field(default_factory=list)
    buses: list[dict[str, Any]] = field(default_factory=list)
    cameras: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)


def esc(value: object) -> str:
    """Text from devices, escaped before it goes into plotly's hover HTML."""
    return html.escape(str(value), quote=False)


@cache
def province_view(code: str | None) -> tuple[tuple[float, float], float]:
    """Centre and zoom that fit a province (or the whole country for None)."""
    if code is None:
        return NATIONAL_VIEW
    feature = next(
        (f for f in geography().province_geojson()["features"] if f["properties"]["code"] == code),
        None,
    )
    if feature is None:
        return NATIONAL_VIEW
    lons: list[float] = []
    lats: list[float] = []
    for ring in _rings(feature["geometry"]):
        for lon, lat in ring:
            lons.append(lon)
            lats.append(lat)
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    span = max(east - west, (north - south) * 1.3, 0.05)
    zoom = max(4.0, min(12.0, math.log2(360.0 / span) - 0.9))
    return ((south + north) / 2, (west + east) / 2), round(zoom, 2)


def _rings(geometry: dict[str, Any]) -> Iterable[Sequence[Sequence[float]]]:
    if geometry["type"] == "Polygon":
        yield from geometry["coordinates"]
    elif geometry["type"] == "MultiPolygon":
        for polygon in geometry["coordinates"]:
            yield from polygon


def _layers(province: str | None) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = [
        {
            "sourcetype": "geojson",
            "source": "/geo/provinces.geojson",
            "type": "fill",
            "color": LAND,
            "below": "traces",
        },
        {
            "sourcetype": "geojson",
            "source": "/geo/provinces.geojson",
            "type": "line",
            "color": OUTLINE,
            "line": {"width": 1.2},
            "below": "traces",
        },
    ]
    if province is not None:
        layers.append(
            {
                "sourcetype": "geojson",
                "source": f"/geo/communes/{province}.geojson",
                "type": "line",
                "color": COMMUNE_OUTLINE,
                "line": {"width": 0.6},
                "below": "traces",
            }
        )
    return layers


def _points(
    rows: Sequence[dict[str, Any]],
    *,
    name: str,
    kind: str,
    key: str,
    hover: Sequence[str],
    layer: str,
    size: Any = None,
) -> go.Scattermap:
    style = MAP_LAYER_STYLES[layer]
    return go.Scattermap(
        lat=[r["lat"] for r in rows],
        lon=[r["lon"] for r in rows],
        mode="markers",
        name=name,
        marker={
            "color": style.colour,
            "size": style.size[0] if size is None else size,
            "opacity": style.opacity,
        },
        customdata=[[kind, r[key], h] for r, h in zip(rows, hover, strict=True)],
        hovertemplate="%{customdata[2]}<extra></extra>",
    )


MAP_TRACES = ("incident_areas", "incidents", "gaps", "outages", "cameras", "buses")


def _map_traces(data: MapData, lang: str) -> list[go.Scattermap]:
    areas, incidents = data.incident_areas, data.incidents
    gaps, outages, cameras, buses = data.gaps, data.outages, data.cameras, data.buses
    styles = MAP_LAYER_STYLES
    return [
        _points(
            areas,
            layer="incident_areas",
            name=t("map.incident_areas", lang),
            kind="ward",
            key="ward",
            size=[_sized(styles["incident_areas"], math.sqrt(r["n"]) / 6) for r in areas],
            hover=[
                f"<b>{esc(r['place'])}</b><br>{r['n']} {t('map.count', lang)}"
                f"<br>{esc(t('feed.severity', lang))}: {esc(severity_text(r['top'], lang))}"
                for r in areas
            ],
        ),
        _points(
            incidents,
            layer="incidents",
            name=t("map.incidents", lang),
            kind="event",
            key="id",
            size=[_sized(styles["incidents"], r["severity"] / 4) for r in incidents],
            hover=[
                f"<b>{esc(r['kind_text'])}</b><br>{esc(severity_text(r['severity'], lang))}"
                f"<br>{esc(r['place'])}<br>{esc(r['time'])}"
                for r in incidents
            ],
        ),
        _points(
            gaps,
            layer="gaps",
            name=t("map.gaps", lang),
            kind="event",
            key="event_id",
            hover=[
                f"<b>{esc(t('map.gaps', lang))}</b><br>{esc(r['village'])}<br>{esc(r['detail'] or '')}"
                for r in gaps
            ],
        ),
        _points(
            outages,
            layer="outages",
            name=t("map.outages", lang),
            kind="event",
            key="event_id",
            hover=[
                f"<b>{esc(t('map.outages', lang))}</b><br>{esc(r['village'])}<br>{esc(r['detail'] or '')}"
                for r in outages
            ],
        ),
        _points(
            cameras,
            layer="cameras",
            name=t("map.cameras", lang),
            kind="device",
            key="source",
            size=[
                _sized(styles["cameras"], CAMERA_EMPHASIS.get(r["status"], 0.0)) for r in cameras
            ],
            hover=[
                f"<b>{esc(r['name'])}</b><br>{esc(r['status_text'])}<br>{esc(r['place'])}"
                for r in cameras
            ],
        ),
        _points(
            buses,
            layer="buses",
            name=t("map.buses", lang),
            kind="device",
            key="source",
            hover=[
                f"<b>{esc(r['name'])}</b><br>{esc(r['detail'])}<br>{esc(r['time'])}" for r in buses
            ],
        ),
    ]


def map_trace_data(data: MapData, lang: str) -> list[dict[str, Any]]:
    """Per trace (in MAP_TRACES order) the properties that change between updates."""
    out = []
    for trace in _map_traces(data, lang):
        j = trace.to_plotly_json()
        out.append(
            {
                "lat": j.get("lat", []),
                "lon": j.get("lon", []),
                "customdata": j.get("customdata", []),
                "marker": j.get("marker", {}),
                "showlegend": bool(len(j.get("lat", []))),
            }
        )
    return out


def live_map_figure(data: MapData, lang: str) -> go.Figure:
    """The live map: incidents, buses, cameras, gaps and outages over province/commune outlines.

    Always the same six traces in MAP_TRACES order (empty ones hidden from the legend), so
    an update can patch one layer's data by index.
    """
    (lat, lon), zoom = province_view(data.province)
    traces = _map_traces(data, lang)
    for trace in traces:
        trace.showlegend = bool(len(trace.lat or ()))
    fig = go.Figure(traces)
    fig.update_layout(
        map={
            "style": OFFLINE_STYLE,
            "center": {"lat": lat, "lon": lon},
            "zoom": zoom,
            "layers": _layers(data.province),
        },
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor=SEA,
        font={"family": FONT, "color": TEXT, "size": 13},
        # Bottom left: the mode bar sits top right, the legend must not hide under it.
        legend={
            "orientation": "h",
            "x": 0.01,
            "y": 0.01,
            "xanchor": "left",
            "yanchor": "bottom",
            "bgcolor": "rgba(10,17,32,0.75)",
            "font": {"size": 12},
            # One swatch size for all: the layer's colour is what the legend explains.
            "itemsizing": "constant",
        },
        hoverlabel={"bgcolor": "#17233a", "bordercolor": OUTLINE, "font": {"family": FONT}},
        # Keep the operator's pan and zoom across updates until the province changes.
        uirevision=f"map-{data.province or 'all'}",
    )
    return fig


def _base_layout(fig: go.Figure, *, height: int | None = None) -> go.Figure:
    fig.update_layout(
        margin={"l": 36, "r": 8, "t": 8, "b": 28},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": FONT, "color": TEXT, "size": 12},
        height=height,
        legend={"orientation": "h", "y": -0.25, "x": 0, "font": {"size": 11}},
        hoverlabel={"bgcolor": "#17233a", "bordercolor": OUTLINE, "font": {"family": FONT}},
    )
    fig.update_xaxes(gridcolor=GRID, zeroline=False, linecolor=GRID)
    fig.update_yaxes(gridcolor=GRID, zeroline=False, linecolor=GRID, rangemode="tozero")
    return fig


def events_per_minute_figure(
    rows: Sequence[tuple[datetime, str, int]], *, now: datetime, minutes: int, tz: str, lang: str
) -> go.Figure:
    """Stacked bars of events per minute by domain; the current, partial minute is paler."""
    current = now.replace(second=0, microsecond=0)
    starts = [current - timedelta(minutes=i) for i in range(minutes - 1, -1, -1)]
    by_domain: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for start, kind, n in rows:
        by_domain[kind.split(".", 1)[0]][start] += n
    x = [fmt_time(s, tz, seconds=False) for s in starts]
    fig = go.Figure()
    for domain in sorted(by_domain):
        counts = by_domain[domain]
        fig.add_bar(
            x=x,
            y=[counts.get(s, 0) for s in starts],
            name=domain_text(domain, lang),
            marker={
                "color": DOMAIN_COLOURS.get(domain, MUTED),
                "opacity": [0.45 if s == current else 0.95 for s in starts],
            },
            hovertemplate="%{x} · %{y}<extra>" + esc(domain_text(domain, lang)) + "</extra>",
        )
    fig.update_layout(barmode="stack", bargap=0.15)
    _base_layout(fig, height=160)
    fig.update_xaxes(type="category")
    return fig


def camera_timeline_figure(
    health_events: Sequence[Any], *, since: datetime, now: datetime, tz: str, lang: str
) -> go.Figure:
    """Horizontal bars: when each health condition of one camera was open in [since, now]."""
    from dashboards.i18n import kind_text

    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    opened_at: dict[str, datetime] = {}
    for e in sorted(health_events, key=lambda e: e.ts):
        state = e.attrs.get("state", "opened")
        if state == "opened":
            opened_at.setdefault(e.kind, e.ts)
        elif e.kind in opened_at:
            spans[e.kind].append((opened_at.pop(e.kind), e.ts))
        else:
            spans[e.kind].append((since, e.ts))  # opened before the window
    for kind, start in opened_at.items():
        spans[kind].append((start, now))
    fig = go.Figure()
    for kind in sorted(spans):
        label = kind_text(kind, lang)
        for start, end in spans[kind]:
            if end < since:
                continue
            start = max(start, since)
            fig.add_trace(
                go.Bar(
                    y=[label],
                    x=[(end - start).total_seconds() * 1000],
                    base=[local_time(start, tz).replace(tzinfo=None).isoformat()],
                    orientation="h",
                    marker={
                        "color": HEALTH_COLOURS["offline" if kind == "camera.offline" else "fault"]
                    },
                    hovertemplate=f"{esc(label)}<br>{fmt_time(start, tz, date=True)} → "
                    f"{fmt_time(end, tz, date=True)}<extra></extra>",
                    showlegend=False,
                )
            )
    _base_layout(fig, height=max(120, 60 + 28 * max(1, len(spans))))
    fig.update_xaxes(
        type="date",
        range=[
            local_time(since, tz).replace(tzinfo=None).isoformat(),
            local_time(now, tz).replace(tzinfo=None).isoformat(),
        ],
    )
    fig.update_yaxes(type="category", autorange="reversed")
    if not spans:
        fig.add_annotation(
            text=t("cam.no_conditions", lang),
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            font={"color": HEALTH_COLOURS["ok"], "size": 14},
        )
        fig.update_yaxes(visible=False)
    return fig
