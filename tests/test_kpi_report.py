"""Exports without a browser: the CSV of the table and the one-page province report."""

from __future__ import annotations

import csv
import io
import re

import pytest
from test_kpi import NOW, kpi_store  # noqa: F401 - fixture

from dashboards.kpi_data import csv_text, detail_payload, map_payload
from dashboards.report import province_report_html
from ioc import kpi
from ioc.geo import geography

TZ = "Asia/Ho_Chi_Minh"


def test_csv_has_every_unit_with_values_and_ranks(kpi_store):  # noqa: F811
    w = kpi.make_window("24h", NOW)
    payload = map_payload(kpi_store, "security_incidents", w, None)
    rows = list(csv.reader(io.StringIO(csv_text(payload, "vi", TZ).lstrip("\ufeff"))))
    assert rows[0][0] == "# Sự cố an ninh trên 10.000 dân"
    assert rows[0][2] == f"2026-11-19 17:00 – 2026-11-20 17:00 ({TZ})"
    body = {r[0]: r for r in rows[2:]}
    assert len(body) == 34
    pop = geography().province("68").population
    assert float(body["68"][2]) == pytest.approx(5 / pop * 10_000, rel=1e-5)
    assert body["68"][3] != "" and body["68"][5] == "worse"  # 1 incident the day before
    assert body["04"][6] != "" and body["68"][7] == "5"
    english = csv_text(payload, "en", TZ)
    assert "code,name,value,previous" in english
    # Populations and denominators are whole numbers, never 4.19982e+06.
    assert body["68"][9] == str(pop) and "e+" not in csv_text(payload, "vi", TZ)


def test_detail_payload_compares_with_the_previous_period(kpi_store):  # noqa: F811
    w = kpi.make_window("24h", NOW)
    d = detail_payload(kpi_store, "coverage_gap_villages", w, "68")
    assert d.name == "Tỉnh Lâm Đồng" and d.value.value == 1 and d.previous.value == 2
    assert len(d.points) == 24 and len(d.previous_points) == 24
    d = detail_payload(kpi_store, "silent_sources", w, "68", compare=False)
    assert d.points == [] and d.previous is None


def test_province_report_is_one_self_contained_page(kpi_store):  # noqa: F811
    w = kpi.make_window("24h", NOW)
    html = province_report_html(kpi_store, "68", w, map_kpi="coverage_gap_villages", now=NOW)
    assert html.startswith("<!DOCTYPE html>") and "Tỉnh Lâm Đồng" in html
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    table = html[html.index('id="report-kpis"') : html.index("</table>")]
    assert table.count("<tr>") == 1 + len(kpi.KPIS)
    assert "Thôn đang mất sóng di động" in table and "@page { size: A4 landscape" in html
    # The commune map: one path per commune of the province, coloured by value.
    svg = html[html.index('<svg class="map"') :]
    assert svg.count("<path") == len(geography().communes_of("68"))
    assert re.search(r'fill="#[0-9a-f]{6}"><title>Phường Xuân Hương - Đà Lạt: 1', svg)
    communes = html[html.index('id="report-communes"') :]
    assert "Phường Xuân Hương - Đà Lạt" in communes
    scoped = province_report_html(kpi_store, "68", w, national=False, now=NOW, lang="en")
    assert "Rank" not in scoped[: scoped.index("</thead>")] and "Performance report" in scoped


def test_map_hover_names_how_each_population_was_made(kpi_store):  # noqa: F811
    from dashboards.kpi_figures import kpi_map_figure

    w = kpi.make_window("24h", NOW)
    payload = map_payload(kpi_store, "security_incidents", w, "08", compare=False)
    by_code = {r.code: r for r in payload.rows}
    assert by_code["02296"].population_method == "estimated"  # Xã Bình An, a copied figure
    hover = {row[0]: row[3] for row in kpi_map_figure(payload, "vi")["data"][0]["customdata"]}
    assert hover["Xã Bình An"].endswith("người (ước tính theo diện tích)")
    english = kpi_map_figure(payload, "en")["data"][0]["customdata"]
    assert any(row[3].endswith("(estimated from area)") for row in english)
    # One denominator: the province's communes add up to the province's population.
    g = geography()
    assert sum(r.population for r in payload.rows) == g.province("08").population


# Machado, Oliveira & Fernandes (2009), severity 1: full deuteranopia and protanopia,
# applied to linear RGB.
CVD = {
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
}  # fmt: skip


def _lab(colour: str, vision: str | None = None):
    import numpy as np

    v = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    rgb = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    if vision:
        rgb = np.clip(np.array(CVD[vision]) @ rgb, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ rgb / np.array([0.95047, 1.0, 1.08883])  # fmt: skip
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _worse_better_apart(scale, vision: str | None) -> float:
    import numpy as np

    return float(np.linalg.norm(_lab(scale[0][1], vision) - _lab(scale[-1][1], vision)))


def test_map_scale_is_colour_blind_safe_and_blue_is_better(kpi_store):  # noqa: F811
    from dashboards.kpi_figures import (
        CVD_SAFE_SCALES,
        SCALE_HIGHER_BETTER,
        SCALE_LOWER_BETTER,
        colour_for,
        kpi_map_figure,
    )

    w = kpi.make_window("24h", NOW)
    for kpi_id, want in (("security_incidents", SCALE_LOWER_BETTER),
                         ("camera_availability", SCALE_HIGHER_BETTER)):  # fmt: skip
        payload = map_payload(kpi_store, kpi_id, w, None, compare=False)
        scale = kpi_map_figure(payload, "vi")["data"][0]["colorscale"]
        assert scale in CVD_SAFE_SCALES and scale == want, kpi_id
    # The better end is the blue one either way; the report's colours follow the same scale.
    assert SCALE_LOWER_BETTER[0][1] == SCALE_HIGHER_BETTER[-1][1] == "#2166ac"
    assert colour_for(0.0, 0.0, 10.0, "lower") == colour_for(10.0, 0.0, 10.0, "higher")
    for scale in CVD_SAFE_SCALES:
        for vision in (None, *CVD):
            # Worse and better stay far apart (CIE76 ΔE) with full red or green blindness.
            assert _worse_better_apart(scale, vision) > 60, vision
    # The old red-yellow-green scale fails the same check: the test can tell them apart.
    old = [[0.0, "#c8453c"], [0.5, "#e8c547"], [1.0, "#2e9e6f"]]
    assert _worse_better_apart(old, None) > 60
    assert _worse_better_apart(old, "deuteranopia") < 30
