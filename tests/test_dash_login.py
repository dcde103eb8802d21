"""Login, role and scope in the shell, language switch, logout — in headless Chromium."""

from __future__ import annotations

import pytest
from dash_support import PASSWORD, dash_store, login, seed
from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.browser]


@pytest.fixture
def app(tmp_path):
    settings, store = dash_store(tmp_path, ("op68", "operator", "68"), ("kysu", "engineer"))
    seed(store, tmp_path)
    store.close()
    from dashboards.app import create_app

    app = create_app(settings)
    yield app
    app.server.extensions["ioc"].close()


def test_login_shows_role_scope_and_role_pages(dash_duo, app):
    dash_duo.start_server(app)
    # Without a session every page sends the browser to the login form.
    dash_duo.driver.get(f"{dash_duo.server_url}/cameras")
    dash_duo.wait_for_element("#login-form", timeout=10)
    assert "/login" in dash_duo.driver.current_url

    dash_duo.find_element("#login-username").send_keys("op68")
    dash_duo.find_element("#login-password").send_keys("wrong-password-123")
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#login-error", timeout=10)

    dash_duo.find_element("#login-username").send_keys("op68")
    dash_duo.find_element("#login-password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()
    # Back on the page first asked for, with the user's role and province in the header.
    dash_duo.wait_for_element("#cameras-page", timeout=15)
    dash_duo.wait_for_text_to_equal("#user-name", "op68")
    dash_duo.wait_for_contains_text("#user-scope", "Cán bộ trực · Lâm Đồng")
    links = [a.text for a in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".nav-link")]
    assert links == ["Trực tiếp", "Camera", "Tra cứu dân cư"], links
    assert "Phát lại" not in links, "operators have no replay page"
    assert "Nhật ký truy vết" not in links, "only admins read the audit log"
    # The clock runs in Vietnam time and the freshness badge reports the newest event.
    dash_duo.wait_for_text_to_equal("#clock-time", dash_duo.find_element("#clock-time").text)
    assert dash_duo.find_element("#clock-time").text != "--:--:--"
    dash_duo.wait_for_contains_text("#freshness-text", "Dữ liệu mới nhất", timeout=10)

    # A page the role may not open shows a refusal, not data.
    dash_duo.driver.get(f"{dash_duo.server_url}/replay")
    dash_duo.wait_for_element("#access-denied", timeout=10)
    assert not dash_duo.driver.find_elements(By.ID, "replay-feed")

    dash_duo.find_element("#logout").click()
    dash_duo.wait_for_element("#login-form", timeout=10)
    dash_duo.driver.get(f"{dash_duo.server_url}/live")
    dash_duo.wait_for_element("#login-form", timeout=10)


def test_language_switch(dash_duo, app):
    dash_duo.start_server(app)
    login(dash_duo, "kysu")
    dash_duo.wait_for_element("#live-page", timeout=15)
    dash_duo.wait_for_contains_text(".feed-panel h2", "Sự kiện mới")
    dash_duo.wait_for_contains_text("#live-feed", "Xâm nhập trái phép", timeout=10)
    assert dash_duo.find_element("#nav-live").text == "Trực tiếp"

    dash_duo.find_element("#lang-en").click()
    dash_duo.wait_for_contains_text(".feed-panel h2", "Incident feed", timeout=10)
    assert "/live" in dash_duo.driver.current_url
    dash_duo.wait_for_contains_text("#live-feed", "Intrusion", timeout=10)
    assert dash_duo.find_element("#nav-live").text == "Live"
    assert dash_duo.find_element("#nav-replay").text == "Replay"
    dash_duo.wait_for_contains_text("#user-scope", "Engineer · National")
    # Place names keep their diacritics in either language.
    assert "Đà Lạt" in dash_duo.find_element("#live-feed").text

    # The choice sticks to the session across pages.
    dash_duo.find_element("#nav-cameras").click()
    dash_duo.wait_for_element("#cam-wall .cam-card", timeout=10)
    dash_duo.wait_for_contains_text("#cam-summary", "cameras")

    dash_duo.find_element("#lang-vi").click()
    dash_duo.wait_for_contains_text("#cam-summary", "camera", timeout=10)
    dash_duo.wait_for_contains_text("#cam-count-ok", "Bình thường")
    assert "/cameras" in dash_duo.driver.current_url
