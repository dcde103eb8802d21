"""The KPI page in headless Chromium: national choropleth, drill-down, window change, exports;
and its province scope, tested with crafted callback requests."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dash_support import dash_call, dash_store, form_login, login

from bench.seed import seed_store

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def kpi_env(tmp_path):
    settings, store = dash_store(
        tmp_path, ("leader", "leader"), ("leader68", "leader", "68"), ("op", "operator")
    )
    seed_store(store, 20_000, days=30, end=NOW, seed=11)
    from dashboards.app import create_app

    app = create_app(settings)
    yield app, store
    store.close()
    app.server.extensions["ioc"].close()


def figure_info(dash_duo, graph: str) -> dict[str, Any]:
    """What the browser's plotly graph holds (read in one script while it may re-render)."""
    return dash_duo.driver.execute_script(
        """
        const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');
        if (!gd || !gd.data || !gd.data.length) return null;
        return {locations: gd.data[0].locations || [], z: gd.data[0].z || [],
                meta: gd.layout.meta || {}, type: gd.data[0].type,
                canvas: !!gd.querySelector('canvas'),
                selected: (gd.data[1] && gd.data[1].locations) || []};
        """,
        graph,
    )


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the page may be mid-render
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def table_rows(dash_duo) -> list[list[str]]:
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#kpi-ranking tbody tr')]"
        ".map(r => [...r.children].map(c => c.textContent))"
    )


def downloaded(dash_duo, suffix: str, timeout: float = 20.0) -> Path:
    folder = Path(dash_duo.download_path)

    def found():
        files = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0]
        return files[0] if files else None

    try:
        return wait_for(found, timeout, f"a downloaded {suffix} file in {folder}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; browser log: {dash_duo.get_logs()}") from None


@pytest.mark.browser
@pytest.mark.slow
def test_national_map_drill_down_window_and_exports(dash_duo, kpi_env):
    app, _store = kpi_env
    dash_duo.start_server(app)
    login(dash_duo, "leader", path="/kpi")
    dash_duo.wait_for_element("#kpi-page", timeout=20)

    # National choropleth: 34 provinces, drawn by MapLibre, with a ranking table beside it.
    info = wait_for(
        lambda: (i := figure_info(dash_duo, "#kpi-map")) and len(i["locations"]) == 34 and i,
        what="the national map",
    )
    assert info["type"] == "choroplethmap" and info["meta"]["province"] == ""
    assert sum(1 for z in info["z"] if z is not None) == 34
    wait_for(lambda: figure_info(dash_duo, "#kpi-map")["canvas"], what="the map canvas")
    rows = wait_for(
        lambda: len(table_rows(dash_duo)) == 34 and table_rows(dash_duo), what="34 table rows"
    )
    assert rows[0][0] == "1"
    assert "Sự cố an ninh trên 10.000 dân" in dash_duo.find_element("#kpi-legend").text
    assert "Toàn quốc" in dash_duo.find_element("#kpi-heading").text

    # Window change: 7 days -> 24 hours changes the values and the period in the heading.
    before = figure_info(dash_duo, "#kpi-map")["z"]
    heading = dash_duo.find_element("#kpi-heading").text
    dash_duo.driver.execute_script(
        "[...document.querySelectorAll('#kpi-window input')].find(i => i.value === '24h').click()"
    )
    wait_for(lambda: dash_duo.find_element("#kpi-heading").text != heading, what="a new period")
    after = wait_for(
        lambda: (z := figure_info(dash_duo, "#kpi-map")["z"]) != before and z, what="new map values"
    )
    assert figure_info(dash_duo, "#kpi-map")["meta"]["window"] == "24h"
    assert sum(v for v in after if v) < sum(v for v in before if v)

    # Exports of the national view: CSV of the table and PNG of the map.
    dash_duo.find_element("#kpi-csv").click()
    path = downloaded(dash_duo, ".csv")
    text = path.read_text(encoding="utf-8-sig")
    data = list(csv.reader(io.StringIO(text)))
    assert data[1][:3] == ["ma", "ten", "gia_tri"] and len(data) == 2 + 34
    assert {r[0] for r in data[2:]} >= {"68", "01", "79"}
    assert any(r[1] == "Tỉnh Lâm Đồng" for r in data[2:])
    dash_duo.find_element("#kpi-png").click()
    png = downloaded(dash_duo, ".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

    # Drill down through the map itself: a click on Lâm Đồng shows its 124 communes.
    dash_duo.driver.execute_script(
        """
        const gd = document.querySelector('#kpi-map .js-plotly-plot');
        const i = gd.data[0].locations.indexOf('68');
        gd.emit('plotly_click', {points: [{curveNumber: 0, pointNumber: i, pointIndex: i,
                                            location: '68', z: gd.data[0].z[i]}]});
        """
    )
    info = wait_for(
        lambda: (
            (i := figure_info(dash_duo, "#kpi-map"))["meta"]["province"] == "68"
            and len(i["locations"]) == 124
            and i
        ),
        what="the communes of Lâm Đồng",
    )
    assert all(code.isdigit() and len(code) == 5 for code in info["locations"])
    dash_duo.wait_for_contains_text("#kpi-heading", "Lâm Đồng", timeout=10)
    dash_duo.wait_for_contains_text("#kpi-unit-name", "Lâm Đồng", timeout=10)
    assert dash_duo.find_element("#kpi-back").is_displayed()

    # A commune from the table: outlined on the map, its trend beside it.
    target = table_rows(dash_duo)[0][1]
    dash_duo.find_element("#kpi-ranking tbody tr td.kpi-name").click()
    dash_duo.wait_for_contains_text("#kpi-unit-name", target, timeout=10)
    wait_for(
        lambda: len(figure_info(dash_duo, "#kpi-map")["selected"]) == 1,
        what="the selected commune outline",
    )

    # The province report for the period.
    dash_duo.find_element("#kpi-report").click()
    report = downloaded(dash_duo, ".html")
    body = report.read_text(encoding="utf-8")
    assert "<svg" in body and 'id="report-kpis"' in body and "Tỉnh Lâm Đồng" in body
    assert body.count("<tr>") >= 11 and "<script" not in body

    # Back to the nation.
    dash_duo.find_element("#kpi-back").click()
    wait_for(
        lambda: len(figure_info(dash_duo, "#kpi-map")["locations"]) == 34,
        what="the national map again",
    )
    # No map or script error on the way (MapLibre reports bad styles and sources here).
    assert [e for e in dash_duo.get_logs() if e["level"] == "SEVERE"] == []


@pytest.mark.browser
def test_scoped_leader_sees_only_their_province(dash_duo, kpi_env):
    app, _store = kpi_env
    dash_duo.start_server(app)
    login(dash_duo, "leader68", path="/kpi")
    info = wait_for(
        lambda: (i := figure_info(dash_duo, "#kpi-map")) and i["locations"] and i, what="the map"
    )
    assert info["meta"]["province"] == "68" and len(info["locations"]) == 124
    assert not dash_duo.find_element("#kpi-back").is_displayed()
    dash_duo.wait_for_contains_text("#kpi-unit-name", "Lâm Đồng", timeout=10)


# --- crafted requests -------------------------------------------------------------------


def _map_request(province: str) -> dict[str, Any]:
    return {
        "kpi-province.data": province,
        "kpi-select.value": "security_incidents",
        "kpi-window.value": "7d",
        "kpi-compare.value": ["yes"],
        "kpi-ward.data": "",
    }


@pytest.mark.slow
def test_scope_is_enforced_on_the_server(kpi_env):
    app, store = kpi_env
    client = app.server.test_client()
    csrf = form_login(client, "leader68", next_path="/kpi")
    # Asking for the nation still answers with the leader's own province only.
    r = dash_call(client, csrf, "kpi-map.figure", _map_request(""))
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    figure = r.get_json()["response"]["kpi-map"]["figure"]
    assert len(figure["data"][0]["locations"]) == 124
    assert all(code.startswith("2") for code in figure["data"][0]["locations"])
    # Another province is refused and audited.
    r = dash_call(client, csrf, "kpi-map.figure", _map_request("01"))
    assert r.status_code == 403
    assert store.audit_entries(actor="leader68", action="access_denied")
    r = dash_call(
        client, csrf, "kpi-csv-download.data", {"kpi-csv.n_clicks": 1, **_map_request("01")}
    )
    assert r.status_code == 403
    # An operator has no KPI permission at all.
    op = app.server.test_client()
    r = dash_call(op, form_login(op, "op", next_path="/kpi"), "kpi-map.figure", _map_request(""))
    assert r.status_code == 403
    # A national leader gets the provinces.
    lead = app.server.test_client()
    r = dash_call(
        lead, form_login(lead, "leader", next_path="/kpi"), "kpi-map.figure", _map_request("")
    )
    assert len(r.get_json()["response"]["kpi-map"]["figure"]["data"][0]["locations"]) == 34


@pytest.mark.slow
def test_csv_export_audited(kpi_env):
    app, store = kpi_env
    client = app.server.test_client()
    csrf = form_login(client, "leader", next_path="/kpi")
    r = dash_call(
        client, csrf, "kpi-csv-download.data", {"kpi-csv.n_clicks": 1, **_map_request("68")}
    )
    assert r.status_code == 200
    data = r.get_json()["response"]["kpi-csv-download"]["data"]
    assert data["filename"].startswith("kpi-security_incidents-68-")
    assert data["content"].count("\n") == 2 + 124
    entry = store.audit_entries(actor="leader", action="kpi_export")[0]
    assert entry.details["province"] == "68" and entry.details["format"] == "csv"


@pytest.mark.slow
def test_custom_period_and_bad_period(kpi_env):
    app, _store = kpi_env
    client = app.server.test_client()
    csrf = form_login(client, "leader", next_path="/kpi")
    end = (NOW + timedelta(hours=7)).date() - timedelta(days=2)
    start = end - timedelta(days=6)
    values = {
        **_map_request("68"),
        "kpi-window.value": "custom",
        "kpi-range.start_date": start.isoformat(),
        "kpi-range.end_date": end.isoformat(),
    }
    r = dash_call(client, csrf, "kpi-map.figure", values)
    assert r.status_code == 200
    out = r.get_json()["response"]
    assert out["kpi-map"]["figure"]["layout"]["meta"]["window"] == "custom"
    heading = str(out["kpi-heading"]["children"])
    assert f"00:00 {start:%d/%m/%Y}" in heading
    assert f"00:00 {end + timedelta(days=1):%d/%m/%Y}" in heading
    bad = {**values, "kpi-range.start_date": "not-a-date"}
    r = dash_call(client, csrf, "kpi-map.figure", bad)
    assert r.status_code == 200
    assert r.get_json()["response"]["kpi-message"]["children"] == "Khoảng thời gian không hợp lệ."
