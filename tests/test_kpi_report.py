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
