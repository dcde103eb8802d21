"""Browser test: from an incident on the live page to a masked lookup result, then its audit row
on the admin page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from dash_support import dash_store, ev, login
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ioc.geo import geography
from ioc.population import SyntheticRegistry

pytestmark = pytest.mark.browser

WARD = "25084"  # Xã Bảo Lâm 2, Lâm Đồng
MASKED_ID = re.compile(r"^000\*{6}\d{3}$")


@pytest.fixture
def env(tmp_path):
    settings, store = dash_store(tmp_path, ("op68", "operator", "68"), ("admin", "admin"))
    commune = geography().commune(WARD)
    result = store.write_batch(
        [
            ev(
                "security.intrusion",
                source="cam-bl-01",
                severity=3,
                ts=datetime.now(UTC),
                at=(commune.lat, commune.lon),
                attrs={"camera": "cam-bl-01", "zone": "Cổng UBND xã"},
            )
        ]
    )
    assert result.alarms_opened == 1
    (alarm,) = store.alarms(province="68")
    assert alarm.ward == WARD
    from dashboards.app import create_app

    app = create_app(settings)
    yield app, store, alarm
    store.close()
    app.server.extensions["ioc"].close()


def _wait(dash_duo, condition, timeout=10):
    # The table is re-rendered under our feet: a stale element means "not yet".
    wait = WebDriverWait(
        dash_duo.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    )
    return wait.until(lambda _d: condition())


def _click_radio(dash_duo, group_id: str, value: str) -> None:
    dash_duo.find_element(f"#{group_id} input[value='{value}']").click()


def test_lookup_from_incident_to_masked_result_and_audit_row(dash_duo, env):
    app, store, alarm = env
    person = SyntheticRegistry().residents(WARD)[12]
    dash_duo.start_server(app)

    # The operator picks the incident in the alarm queue and opens a lookup from it.
    login(dash_duo, "op68")
    card = dash_duo.wait_for_element("[id*='alarm-card']", timeout=15)
    card.click()
    link = dash_duo.wait_for_element("#alarm-lookup-link", timeout=10)
    assert link.get_attribute("href").endswith(f"/lookup?ward={WARD}&alarm={alarm.id}")
    link.click()

    # Place and case number arrive prefilled; the operator states the purpose and the person.
    dash_duo.wait_for_element("#lookup-page", timeout=10)
    assert dash_duo.find_element("#lookup-case").get_attribute("value") == f"IOC-{alarm.id}"
    assert "Bảo Lâm 2" in dash_duo.find_element("#lookup-commune").text
    assert dash_duo.find_element("#lookup-by-name").is_displayed()
    assert not dash_duo.find_element("#lookup-by-id").is_displayed()  # one mode's fields only
    remaining_before = int(dash_duo.find_element("#lookup-remaining").text)

    # Without a purpose the lookup is refused (and audited).
    dash_duo.find_element("#lookup-name").send_keys(person.full_name)
    dash_duo.find_element("#lookup-year").send_keys(str(person.birth_date.year))
    dash_duo.find_element("#lookup-submit").click()
    dash_duo.wait_for_element("#lookup-refused", timeout=10)

    _click_radio(dash_duo, "lookup-purpose", "incident_identity")
    dash_duo.find_element("#lookup-submit").click()
    dash_duo.wait_for_element("#lookup-table", timeout=10)
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#lookup-table tbody tr")
    ours = [
        r for r in rows if r.find_element(By.CSS_SELECTOR, ".lookup-name").text == person.full_name
    ]
    assert ours, [r.text for r in rows]
    cells = [c.text for c in ours[0].find_elements(By.TAG_NAME, "td")]
    assert MASKED_ID.match(cells[0]), cells
    assert cells[0][-3:] == person.national_id[-3:]
    assert cells[3] == str(person.birth_date.year)
    assert person.national_id not in dash_duo.driver.page_source
    assert person.birth_date.isoformat() not in dash_duo.driver.page_source
    _wait(
        dash_duo,
        lambda: dash_duo.find_element("#lookup-remaining").text == str(remaining_before - 1),
    )
    audit_ref = dash_duo.find_element("#lookup-audit-id").text
    audit_id = int(audit_ref.rsplit("#", 1)[1])

    # The admin finds that lookup on the audit page.
    dash_duo.find_element("#logout").click()
    dash_duo.wait_for_element("#login-username", timeout=10)
    login(dash_duo, "admin", path="/audit")
    dash_duo.wait_for_element("#audit-table", timeout=15)
    dash_duo.find_element("#audit-actor").send_keys("op68\n")
    _wait(
        dash_duo,
        lambda: (
            "admin"
            not in [
                c.text
                for c in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#audit-table .audit-actor")
            ]
        ),
    )
    row = dash_duo.find_element(f"#audit-table tr[id*='\"id\":{audit_id}']")
    text = row.text
    assert "op68" in text and "lookup" in text
    assert f"IOC-{alarm.id}" in text and "incident_identity" in text
    assert '"results":' in text
    refused = [
        r.text
        for r in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")
        if "lookup_refused" in r.text
    ]
    assert refused and '"reason": "purpose"' in refused[0]
    # The page and the store agree: exactly one lookup and one refusal by the operator.
    actions = [e.action for e in store.audit_entries(actor="op68")]
    assert actions.count("lookup") == 1 and actions.count("lookup_refused") == 1
    assert dash_duo.get_logs() in ([], None)
