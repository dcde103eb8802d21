"""The programme and review pages: headless Chromium (Vietnamese, then English), and their
province scope and known answers through crafted callback requests."""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from dash_support import dash_call, dash_store, ev, form_login, login

from ioc.programmes import PROGRAMMES, progress
from sample_feeds.registers import generate_register

START, UNTIL = date(2025, 6, 1), date(2025, 12, 1)
REVIEW_FROM, REVIEW_TO = date(2025, 11, 1), date(2025, 11, 8)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def prog_env(tmp_path):
    settings, store = dash_store(
        tmp_path, ("leader", "leader"), ("leader68", "leader", "68"), ("op", "operator")
    )
    reg = generate_register(["68", "46"], start=START, until=UNTIL, seed=5)
    store.load_register(reg.baseline, reg.cameras)
    store.load_register(reg.updates)
    # Inside the review: 3 security/order incidents and 5 traffic violations in Lâm Đồng,
    # plus plate reads (neither); one intrusion outside it.
    at = datetime(2025, 11, 5, 3, tzinfo=UTC)
    events = [ev("security.intrusion", source=f"cam-i{i}", ts=at, severity=3) for i in range(3)]
    events += [
        ev(
            "security.traffic_violation",
            source=f"cam-t{i}",
            ts=at,
            attrs={"violation": "red_light"},
        )
        for i in range(5)
    ]
    events += [ev("security.plate_read", source="cam-p", ts=at, attrs={"plate": "49A12345"})]
    events += [ev("security.intrusion", source="cam-x", ts=datetime(2025, 10, 1, tzinfo=UTC))]
    store.write_batch(events)
    first = min(store.alarms(), key=lambda a: a.id)
    store.alarm_action(first.id, actor="op", action="acknowledge")
    from dashboards.app import create_app

    app = create_app(settings)
    yield app, store, reg
    store.close()
    app.server.extensions["ioc"].close()


def expected_signal(reg, province: str | None, on: date) -> tuple[int, int]:
    """(target, done) of the signal programme straight from the generated declarations."""
    base = {v.id: v for v in reg.baseline if province in (None, v.province)}
    target = {i for i, v in base.items() if v.signal not in ("4G", "5G")}
    done = {
        v.id
        for v in reg.updates
        if v.id in target and v.signal in ("4G", "5G") and v.declared_on <= on
    }
    return len(target), len(done)


# --- crafted requests -------------------------------------------------------------------


def _prog(province: str, programme: str = "signal", on: str = "2025-10-01") -> dict[str, Any]:
    return {
        "prog-programme.value": programme,
        "prog-province.value": province,
        "prog-on.value": on,
    }


def _text(component: Any) -> str:
    """All text in a serialised Dash component tree."""
    if isinstance(component, dict):
        return _text(component.get("props", {}).get("children"))
    if isinstance(component, list):
        return " ".join(_text(c) for c in component)
    return "" if component is None else str(component)


def test_progress_known_answers_and_scope(prog_env):
    app, store, reg = prog_env
    lead = app.server.test_client()
    csrf = form_login(lead, "leader", next_path="/programmes")
    on = date(2025, 10, 1)
    r = dash_call(lead, csrf, "prog-cards.children", _prog("68"))
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    out = r.get_json()["response"]
    target, done = expected_signal(reg, "68", on)
    meta = out["prog-chart"]["figure"]["layout"]["meta"]
    assert (meta["target"], meta["done"]) == (target, done)
    assert 0 < done < target
    cards = _text(out["prog-cards"]["children"])
    assert f"{target - done:,}".replace(",", ".") in cards and "30/11/2025" in cards
    # Days to the deadline: 60 from 1 October to 30 November.
    assert "còn 60 ngày" in cards
    # The communes furthest behind come first: none of the shown ones has a larger share.
    rows = out["prog-table"]["children"]["props"]["children"][1]["props"]["children"]
    assert len(rows) == 15
    # National: both provinces with a register, Huế and Lâm Đồng.
    r = dash_call(lead, csrf, "prog-cards.children", _prog("all"))
    meta = r.get_json()["response"]["prog-chart"]["figure"]["layout"]["meta"]
    assert meta["target"] == expected_signal(reg, None, on)[0]

    scoped = app.server.test_client()
    c2 = form_login(scoped, "leader68", next_path="/programmes")
    r = dash_call(scoped, c2, "prog-cards.children", _prog("46"))
    assert r.status_code == 403
    assert store.audit_entries(actor="leader68", action="access_denied")
    r = dash_call(scoped, c2, "prog-cards.children", _prog("all"))
    assert r.get_json()["response"]["prog-chart"]["figure"]["layout"]["meta"]["target"] == target
    op = app.server.test_client()
    op_csrf = form_login(op, "op", next_path="/programmes")
    assert dash_call(op, op_csrf, "prog-cards.children", _prog("68")).status_code == 403


def test_cameras_by_owner_and_csv_export(prog_env):
    app, store, reg = prog_env
    client = app.server.test_client()
    csrf = form_login(client, "leader", next_path="/programmes")
    r = dash_call(client, csrf, "prog-cards.children", _prog("68", "cameras", "2025-12-01"))
    out = r.get_json()["response"]
    cams = [c for c in reg.cameras if c.province == "68"]
    integrated = [c for c in cams if c.integrated_on and c.integrated_on <= UNTIL]
    meta = out["prog-chart"]["figure"]["layout"]["meta"]
    assert (meta["target"], meta["done"]) == (len(cams), len(integrated))
    text = _text(out["prog-cameras"]["children"])
    communes = {c.ward for c in integrated}
    assert f"{len(communes)}/{len({c.ward for c in cams})}" in text
    assert "Công an (an ninh trật tự)" in text

    values = {"prog-csv.n_clicks": 1, **_prog("68", "power")}
    r = dash_call(client, csrf, "prog-download.data", values)
    data = r.get_json()["response"]["prog-download"]["data"]
    rows = list(csv.reader(io.StringIO(data["content"].lstrip("\ufeff"))))
    assert rows[0][:3] == ["programme", "on", "code"]
    base = [v for v in reg.baseline if v.province == "68" and v.power != "connected"]
    assert sum(int(r[4]) for r in rows[1:]) == len(base)
    assert store.audit_entries(actor="leader", action="programme_export")


def test_review_separates_order_from_traffic(prog_env):
    app, _store, reg = prog_env
    client = app.server.test_client()
    csrf = form_login(client, "leader", next_path="/programmes")
    values = {
        "review-province.value": "68",
        "review-from.value": REVIEW_FROM.isoformat(),
        "review-to.value": REVIEW_TO.isoformat(),
    }
    r = dash_call(client, csrf, "review-summary.children", values)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    text = _text(r.get_json()["response"]["review-summary"]["children"])
    assert "3 vụ;" in text and "5 vụ;" in text
    # The three intrusions raised three alarms; one was acknowledged.
    assert "3 cảnh báo; 1 đã tiếp nhận" in text and "0 đã xử lý xong" in text
    # The day each village of the programme was first declared at 4G.
    in_prog = {v.id for v in reg.baseline if v.province == "68" and v.signal not in ("4G", "5G")}
    first_4g: dict[str, date] = {}
    for v in reg.updates:
        if v.id in in_prog and v.signal == "4G":
            first_4g[v.id] = min(first_4g.get(v.id, v.declared_on), v.declared_on)
    covered = sum(REVIEW_FROM < d <= REVIEW_TO for d in first_4g.values())
    assert covered > 0
    rows = r.get_json()["response"]["review-summary"]["children"]["props"]["children"][1]
    first = rows["props"]["children"][0]["props"]["children"][1]["props"]["children"]
    assert first == str(covered)
    values["review-from.value"] = "2025-13-01"
    r = dash_call(client, csrf, "review-summary.children", values)
    assert "không hợp lệ" in _text(r.get_json()["response"]["review-message"]["children"])


# --- browser ----------------------------------------------------------------------------


def wait_text(dash_duo, selector: str, predicate, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            last = dash_duo.find_element(selector).text
            if predicate(last):
                return last
        except Exception:  # mid-render
            pass
        time.sleep(0.2)
    raise AssertionError(f"{selector}: last text {last!r}")


@pytest.mark.browser
@pytest.mark.slow
def test_leader_views_in_the_browser(dash_duo, prog_env):
    app, _store, reg = prog_env
    dash_duo.start_server(app)
    login(dash_duo, "leader68", path="/programmes")
    dash_duo.wait_for_element("#programmes-page", timeout=20)
    target, _ = expected_signal(reg, "68", date.today())
    wait_text(dash_duo, "#prog-target", lambda s: f"{target:,}".replace(",", ".") in s.split())
    assert "Tiến độ các chương trình" in dash_duo.find_element("h1").text
    # A finished or overdue programme says so (the generated work ended 1 December 2025).
    wait_text(dash_duo, "#prog-deadline", lambda s: "quá hạn" in s)
    dash_duo.wait_for_element("#prog-chart .js-plotly-plot", timeout=20)
    dash_duo.wait_for_element("#prog-places tbody tr", timeout=20)
    if os.environ.get("IOC_SCREENSHOTS"):
        dash_duo.driver.set_window_size(1400, 1100)
        time.sleep(1)
        dash_duo.driver.save_screenshot(str(SCREENSHOTS / "programmes.png"))

    # Cameras: planned against integrated by owner and vendor, and coverage.
    dash_duo.driver.get(f"{dash_duo.server_url}/programmes?programme=cameras")
    cams = [c for c in reg.cameras if c.province == "68"]
    wait_text(dash_duo, "#prog-target", lambda s: str(len(cams)) in s.split())
    text = wait_text(dash_duo, "#prog-coverage", lambda s: "tuyến xe buýt" in s)
    assert f"/{len({c.ward for c in cams})} xã/phường/đặc khu" in text
    if os.environ.get("IOC_SCREENSHOTS"):
        dash_duo.driver.execute_script("document.querySelector('#prog-coverage').scrollIntoView()")
        time.sleep(1)
        dash_duo.driver.save_screenshot(str(SCREENSHOTS / "programmes-cameras.png"))

    # English, on the review page.
    dash_duo.driver.get(f"{dash_duo.server_url}/auth/lang/en?next=/review")
    dash_duo.wait_for_element("#review-page", timeout=20)
    assert "Review" in dash_duo.find_element("h1").text
    for cid, value in (("#review-from", REVIEW_FROM), ("#review-to", REVIEW_TO)):
        box = dash_duo.find_element(cid)
        box.clear()
        box.send_keys(value.isoformat() + "\n")
    text = wait_text(dash_duo, "#review-order_incidents", lambda s: s.startswith("3 cases"))
    assert "per 10,000 residents" in text and "cameras integrated" in text
    wait_text(dash_duo, "#review-traffic_violations", lambda s: s.startswith("5 cases"))
    dash_duo.wait_for_element("#review-places-table tbody tr", timeout=20)
    if os.environ.get("IOC_SCREENSHOTS"):
        dash_duo.driver.save_screenshot(str(SCREENSHOTS / "review-en.png"))
    assert PROGRAMMES["signal"].deadline < date.today()
    assert progress(PROGRAMMES["signal"], 1, [], date.today()).days_to_deadline < 0


def test_province_report_includes_the_programmes(prog_env):
    _app, store, reg = prog_env
    from dashboards.report import province_report_html
    from ioc import kpi

    html = province_report_html(store, "68", kpi.make_window("7d"), national=False)
    assert "id='report-programmes'" in html and "Tiến độ các chương trình" in html
    target, done = expected_signal(reg, "68", date.today())
    assert f"<td class='num'>{target}</td><td class='num'>{done}</td>" in html.replace(".", "")
    assert "quá hạn" in html
    # A province without a register has no programme section.
    assert "report-programmes" not in province_report_html(
        store, "01", kpi.make_window("7d"), national=False
    )
