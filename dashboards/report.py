"""One-page HTML report of a province's KPIs for a period: self-contained, printable, offline.

No script and no external resource: the commune map is inline SVG drawn from our own
GeoJSON, trends are inline SVG sparklines, styles are inline. Print it to PDF from any
browser (A4 landscape fits one page).
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

from dashboards.fmt import local_time
from dashboards.kpi_data import UnitRow, map_payload
from dashboards.kpi_figures import (
    BAD,
    GOOD,
    change_text,
    colour_for,
    fmt_int,
    kt,
    period_text,
    sparkline_svg,
)
from dashboards.programme_data import programmes_report_html  # issue 16
from ioc import kpi
from ioc.geo import geography
from ioc.kpi import KPIS, Window
from ioc.store import Store

MAP_W, MAP_H = 520, 400
TOP_COMMUNES = 8

CSS = """
@page { size: A4 landscape; margin: 10mm; }
body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; font-size: 10.5px;
       color: #1b2533; margin: 0; }
h1 { font-size: 17px; margin: 0 0 2px; }
h2 { font-size: 12px; margin: 10px 0 4px; color: #33425c; }
.meta { color: #5b6b85; margin-bottom: 6px; }
.grid { display: grid; grid-template-columns: 1.35fr 1fr; gap: 14px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; color: #5b6b85; border-bottom: 1px solid #c5cfdd;
     padding: 2px 4px; }
td { border-bottom: 1px solid #e4e9f0; padding: 2px 4px; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.better { color: GOOD; } .worse { color: BAD; }
.defs { font-size: 8.5px; color: #5b6b85; margin-top: 8px; columns: 2; }
.defs p { margin: 0 0 2px; break-inside: avoid; }
svg.map path { stroke: #ffffff; stroke-width: 0.6; }
.scale { display: flex; align-items: center; gap: 6px; font-size: 9px; color: #5b6b85; }
.scale span.bar { width: 120px; height: 8px; display: inline-block; }
""".replace("GOOD", GOOD).replace("BAD", BAD)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for poly in geometry["coordinates"] for ring in poly]
    return []


def commune_map_svg(
    province: str, rows: dict[str, UnitRow], direction: str, lang: str = "vi"
) -> str:
    """The province's communes as an SVG choropleth (equirectangular, scaled to fit)."""
    features = geography().commune_geojson(province)["features"]
    rings = [(f["properties"]["code"], _rings(f["geometry"])) for f in features]
    xs = [p[0] for _, rs in rings for r in rs for p in r]
    ys = [p[1] for _, rs in rings for r in rs for p in r]
    if not xs:
        return ""
    lat0 = (min(ys) + max(ys)) / 2
    kx = math.cos(math.radians(lat0))
    w, h = (max(xs) - min(xs)) * kx, max(ys) - min(ys)
    scale = min(MAP_W / w, MAP_H / h) if w and h else 1.0
    values = [r.value for r in rows.values() if r.value is not None]
    zmin, zmax = (min(values), max(values)) if values else (0.0, 1.0)
    paths = []
    for code, rs in rings:
        d = []
        for ring in rs:
            pts = [f"{(x - min(xs)) * kx * scale:.1f},{(max(ys) - y) * scale:.1f}" for x, y in ring]
            d.append("M" + "L".join(pts) + "Z")
        row = rows.get(code)
        fill = colour_for(row.value if row else None, zmin, zmax, direction)
        title = f"{row.name}: {kpi.format_number(row.value, 2, lang)}" if row else code
        paths.append(f'<path d="{"".join(d)}" fill="{fill}"><title>{_e(title)}</title></path>')
    width, height = w * scale, h * scale
    return (
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.1f} {height:.1f}">{"".join(paths)}</svg>'
    )


def province_report_html(
    store: Store,
    province: str,
    window: Window,
    *,
    lang: str = "vi",
    tz: str = "Asia/Ho_Chi_Minh",
    map_kpi: str = "security_incidents",
    national: bool = True,
    now: datetime | None = None,
) -> str:
    """The report as one HTML document."""
    g = geography()
    p = g.province(province)
    prev = window.previous()
    rows_html = []
    for k in KPIS.values():
        cur = kpi.total_value(store, k.id, window, province=province)
        old = kpi.total_value(store, k.id, prev, province=province)
        delta, trend = kpi.change(cur.value, old.value, k.id)
        spark = ""
        if k.has_trend:
            spark = sparkline_svg(
                [pt.value for pt in kpi.trend(store, k.id, window, province=province)]
            )
        extra = ""
        if national:
            nat = kpi.total_value(store, k.id, window)
            ranks = kpi.ranks(kpi.unit_values(store, k.id, window), k.id)
            rank = ranks.get(province)
            extra = (
                f'<td class="num">{_e(k.format(nat.value, lang))}</td>'
                f'<td class="num">{rank if rank is not None else "—"}/{len(ranks) or "—"}</td>'
            )
        rows_html.append(
            f"<tr><td>{_e(k.name(lang))}</td><td>{_e(k.unit(lang))}</td>"
            f'<td class="num"><b>{_e(k.format(cur.value, lang))}</b></td>'
            f'<td class="num">{_e(k.format(old.value, lang))}</td>'
            f'<td class="num {trend}">{_e(change_text(k, delta, trend, lang))}</td>'
            f"{extra}<td>{spark}</td></tr>"
        )
    mk = kpi.kpi(map_kpi)
    communes = map_payload(store, map_kpi, window, province, compare=True)
    by_code = {r.code: r for r in communes.rows}
    svg = commune_map_svg(province, by_code, mk.direction, lang)
    ranked = [r for r in communes.rows if r.value is not None]
    worst = list(reversed(ranked[-TOP_COMMUNES:]))
    commune_rows = "".join(
        f"<tr><td>{_e(r.name)}</td><td class='num'>{_e(mk.format(r.value, lang))}</td>"
        f"<td class='num'>{_e(mk.format(r.previous, lang))}</td>"
        f"<td class='num {r.trend}'>{_e(change_text(mk, r.delta, r.trend, lang))}</td>"
        f"<td class='num'>{_e(fmt_int(r.population, lang))}</td></tr>"
        for r in worst
    )
    values = [r.value for r in ranked]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    grad = ", ".join(colour_for(lo + (hi - lo) * i / 4, lo, hi, mk.direction) for i in range(5))
    scale = (
        f'<div class="scale">{_e(mk.format(lo if values else None, lang))}'
        f'<span class="bar" style="background: linear-gradient(90deg, {grad})"></span>'
        f"{_e(mk.format(hi if values else None, lang))} {_e(mk.unit(lang))}</div>"
    )
    nat_head = (
        f"<th>{_e(kt('kpi.national', lang))}</th><th>{_e(kt('kpi.rank', lang))}</th>"
        if national
        else ""
    )
    defs = "".join(
        f"<p><b>{_e(k.name(lang))}</b> ({_e(k.unit(lang))}; {_e(k.better(lang))}): "
        f"{_e(k.formula(lang))}</p>"
        for k in KPIS.values()
    )
    made = local_time(now or datetime.now(UTC), tz).strftime("%H:%M %d/%m/%Y")
    title = "Báo cáo chỉ số điều hành" if lang == "vi" else "Performance report"
    worst_title = (
        f"{TOP_COMMUNES} xã/phường/đặc khu cần chú ý nhất"
        if lang == "vi"
        else f"{TOP_COMMUNES} communes needing most attention"
    )
    return f"""<!DOCTYPE html>
<html lang="{_e(lang)}"><head><meta charset="utf-8">
<title>{_e(title)} — {_e(p.name)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)} — {_e(p.name)}</h1>
<div class="meta">{_e(kt("kpi.period", lang))}: {_e(period_text(window.since, window.until, tz, lang))}
 ({_e(tz)}) · {_e(kt("kpi.previous_period", lang))}:
 {_e(period_text(prev.since, prev.until, tz, lang))} ·
 {_e(kt("kpi.population", lang))}: {_e(fmt_int(p.population, lang))} {_e(kt("kpi.people", lang))} ·
 {_e(kt("kpi.area", lang))}: {_e(kpi.format_number(p.area_km2, 0, lang))} km² ·
 {"Lập lúc" if lang == "vi" else "Made at"} {_e(made)}</div>
<div class="grid"><div>
<table id="report-kpis"><thead><tr><th>{_e(kt("kpi.indicator", lang))}</th>
<th>{_e(kt("kpi.unit", lang))}</th><th>{_e(kt("kpi.current_period", lang))}</th>
<th>{_e(kt("kpi.previous", lang))}</th><th>{_e(kt("kpi.change", lang))}</th>{nat_head}
<th>{_e(kt("kpi.trend", lang))}</th></tr></thead><tbody>{"".join(rows_html)}</tbody></table>
<h2>{_e(worst_title)}: {_e(mk.name(lang))}</h2>
<table id="report-communes"><thead><tr><th>{_e(kt("kpi.commune", lang))}</th>
<th>{_e(kt("kpi.value", lang))}</th><th>{_e(kt("kpi.previous", lang))}</th>
<th>{_e(kt("kpi.change", lang))}</th><th>{_e(kt("kpi.population", lang))}</th></tr></thead>
<tbody>{commune_rows}</tbody></table>
{programmes_report_html(store, province, local_time(now or datetime.now(UTC), tz).date(), lang)}
</div><div>
<h2>{_e(mk.name(lang))}</h2>{svg}{scale}
</div></div>
<div class="defs">{defs}</div>
</body></html>
"""
