"""Server-side security of the web app, through HTTP as a browser (or an attacker) would speak it:
sessions, every page and callback, roles, province scope, lookups, audit, injection strings."""

from __future__ import annotations

import csv
import importlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dash
import pytest

from dashboards.app import create_app
from dashboards.services import services
from ioc.auth import hash_password
from ioc.population import LookupService, RateLimit, SyntheticRegistry
from ioc.settings import load_settings
from ioc.store import Store

PASSWORD = "correct horse battery"
USERS = (
    ("op68", "operator", "68"),
    ("op_all", "operator", None),
    ("leader", "leader", None),
    ("engineer", "engineer", None),
    ("admin", "admin", None),
)
ROUTER = ".._pages_content.children..._pages_store.data.."
LOOKUP = "..lookup-message.children...lookup-results.children...lookup-remaining.children.."
COMMUNES = "..lookup-commune.options...lookup-commune.value.."
AUDIT_TABLE = "..audit-table-box.children...audit-message.children.."
AUDIT_EXPORT = "audit-download.data"
LOOKUP_ACTIONS = ("lookup", "lookup_refused", "lookup_failed")
INJECTIONS = (
    "'; DROP TABLE audit_log; --",
    "1' OR '1'='1",
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "{{7*7}}${7*7}%s",
)


@pytest.fixture(scope="module")
def registry() -> SyntheticRegistry:
    return SyntheticRegistry()


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def app(store_url, tmp_path, password_hash) -> Iterator[dash.Dash]:
    """The real app on each backend, with one account per role."""
    settings = load_settings(data_dir=str(tmp_path / "data"), db_url=store_url)
    app = create_app(settings)
    with app.server.app_context():
        store = services().store
        for name, role, province in USERS:
            store.add_user(name, password_hash, role, province)
    yield app
    with app.server.app_context():
        services().close()


def lookup_page() -> Any:
    """The lookup page module (importable only once an app has registered the pages)."""
    return importlib.import_module("dashboards.pages.lookup")


def app_store(app: dash.Dash) -> Store:
    with app.server.app_context():
        return services().store


def _split_key(key: str) -> list[tuple[str, str]]:
    if key.startswith("..") and key.endswith(".."):
        parts = key[2:-2].split("...")
    else:
        parts = [key]
    return [tuple(p.rsplit(".", 1)) for p in parts]  # type: ignore[misc]


@dataclass
class Browser:
    """A Flask test client that speaks Dash's callback protocol."""

    app: dash.Dash

    def __post_init__(self) -> None:
        self.client = self.app.server.test_client()
        self.client.get("/_dash-layout")  # Dash registers page callbacks on the first request

    def login(self, username: str, password: str = PASSWORD) -> Any:
        response = self.client.post(
            "/auth/login", data={"username": username, "password": password, "next": "/live"}
        )
        return response

    def call(
        self,
        key: str,
        inputs: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        *,
        csrf: bool = True,
    ) -> Any:
        """POST one callback as dash-renderer does, values given as {"id.prop": value}."""
        spec = self.app.callback_map[key]
        inputs = inputs or {}
        state = state or {}
        outputs = [{"id": i, "property": p} for i, p in _split_key(key)]
        payload = {
            "output": key,
            "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": [
                {**i, "value": inputs.get(f"{i['id']}.{i['property']}")} for i in spec["inputs"]
            ],
            "state": [
                {**s, "value": state.get(f"{s['id']}.{s['property']}")} for s in spec["state"]
            ],
            "changedPropIds": list(inputs),
        }
        headers = {}
        cookie = self.client.get_cookie("_csrf_token")
        if csrf and cookie is not None:
            headers["X-CSRFToken"] = cookie.value
        return self.client.post("/_dash-update-component", json=payload, headers=headers)

    def page(self, path: str, search: str = "") -> str:
        """The page layout the router returns for path, as JSON text."""
        r = self.call(ROUTER, {"_pages_location.pathname": path, "_pages_location.search": search})
        assert r.status_code == 200, r.data
        return text(r)

    def lookup(self, **fields: Any) -> Any:
        state = {
            "lookup-purpose.value": fields.get("purpose"),
            "lookup-case.value": fields.get("case"),
            "lookup-mode.value": fields.get("mode", "id"),
            "lookup-id.value": fields.get("national_id"),
            "lookup-commune.value": fields.get("commune"),
            "lookup-name.value": fields.get("full_name"),
            "lookup-year.value": fields.get("birth_year"),
        }
        return self.call(LOOKUP, {"lookup-submit.n_clicks": 1}, state)


def browser(app: dash.Dash, username: str | None = None) -> Browser:
    b = Browser(app)
    if username:
        r = b.login(username)
        assert r.status_code == 303 and "error" not in r.headers["Location"], r.headers
    return b


def lookup_rows(store: Store) -> list:
    return [e for e in store.audit_entries(limit=5000) if e.action in LOOKUP_ACTIONS]


def person(registry: SyntheticRegistry, province: str, i: int = 0):
    commune = registry.geo.communes_of(province)[i]
    return registry.residents(commune.code)[4 + i]


def text(response: Any) -> str:
    """A response body as text, with non-ASCII characters unescaped."""
    doc = response.get_json(silent=True)
    return response.get_data(as_text=True) if doc is None else json.dumps(doc, ensure_ascii=False)


def output_of(response: Any) -> dict[str, Any]:
    return response.get_json()["response"]


# -- unauthenticated --------------------------------------------------------------------


def test_every_callback_refuses_without_session(app):
    anon = Browser(app)
    keys = list(app.callback_map)
    assert LOOKUP in keys and AUDIT_TABLE in keys and len(keys) >= 10
    for key in keys:
        if key == ROUTER:
            # The router answers, but each page's own guard renders only a login redirect
            # (test_every_page_refuses_without_session goes through every page).
            assert "login-redirect" in anon.page("/audit")
        else:
            assert anon.call(key).status_code == 401, key
    # A forged session cookie is no session.
    anon.client.set_cookie("ioc_session", "eyJ1IjoiYWRtaW4ifQ.forged.signature")
    assert anon.call(LOOKUP).status_code == 401
    assert anon.call(AUDIT_TABLE).status_code == 401


def test_every_page_refuses_without_session(app):
    anon = Browser(app)
    paths = [p["path"] for p in dash.page_registry.values() if p["path"] != "/login"]
    assert {"/lookup", "/audit"} <= set(paths)
    page_ids = ("lookup-submit", "audit-table-box", "live-feed")
    for path in paths:
        r = anon.client.get(path, headers={"Accept": "text/html"})
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), path
        body = anon.page(path, "?ward=25084")
        assert "login-redirect" in body
        assert not any(i in body for i in page_ids), path


def test_every_server_callback_is_guarded(app):
    """A structural check: each server-side callback carries a guard with a permission."""
    Browser(app)
    unguarded = []
    for key in app.callback_map:
        fn = app.callback_map[key].get("callback")
        if fn is None or key == ROUTER:
            continue  # clientside callbacks run in the browser; the router guards each page
        if getattr(fn, "ioc_permission", None) is None:
            unguarded.append(key)
    assert unguarded == []
    perms = {app.callback_map[k]["callback"].ioc_permission for k in (LOOKUP, COMMUNES)}
    assert perms == {"population.lookup"}
    assert app.callback_map[AUDIT_TABLE]["callback"].ioc_permission == "audit.view"


# -- sessions ---------------------------------------------------------------------------


def test_session_cookies_login_and_logout(store_url, tmp_path, password_hash):
    settings = load_settings(data_dir=str(tmp_path / "data"), db_url=store_url)
    app = create_app(settings, secure_cookies=True)
    with app.server.app_context():
        store = services().store
        store.add_user("admin", password_hash, "admin")
    try:
        b = Browser(app)
        assert b.login("admin", "wrong password!").headers["Location"].startswith("/login?error")
        r = b.login("admin")
        cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("ioc_session="))
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= flags
        assert b.call(AUDIT_TABLE).status_code == 200
        # Without the CSRF header a signed-in callback is still refused.
        assert b.call(AUDIT_TABLE, csrf=False).status_code == 403
        b.client.post("/auth/logout")
        assert b.call(AUDIT_TABLE).status_code == 401
        actions = [e.action for e in reversed(store.audit_entries(actor="admin"))]
        assert actions[:2] == ["login_failed", "login"] and "logout" in actions
    finally:
        with app.server.app_context():
            services().close()


def test_disabled_account_is_cut_off_at_next_request(app):
    b = browser(app, "op68")
    assert b.call(COMMUNES, {"lookup-province.value": "68"}).status_code == 200
    app_store(app).update_user("op68", disabled=True)
    assert b.call(COMMUNES, {"lookup-province.value": "68"}).status_code == 401


# -- roles and scope ----------------------------------------------------------------------


@pytest.mark.parametrize("role_user", ["leader", "engineer"])
def test_roles_without_lookup_cannot_look_up(app, registry, role_user):
    store = app_store(app)
    b = browser(app, role_user)
    body = b.page("/lookup", "?ward=25084")
    assert "access-denied" in body and "lookup-submit" not in body
    before = store.table_counts()["audit_log"]
    p = person(registry, "68")
    r = b.lookup(purpose="search_rescue", case="SC-1", national_id=p.national_id)
    assert r.status_code == 403
    assert p.full_name not in text(r)
    assert b.call(COMMUNES, {"lookup-province.value": "68"}).status_code == 403
    new = store.audit_entries(limit=store.table_counts()["audit_log"] - before)
    assert [e.action for e in new] == ["access_denied"] * 2
    assert lookup_rows(store) == []


def test_operator_scoped_to_68_cannot_read_46(app, registry):
    store = app_store(app)
    b = browser(app, "op68")
    hue = person(registry, "46")
    # Crafted: a Huế commune in the name search.
    r = b.lookup(
        purpose="search_rescue",
        case="SC-1",
        mode="name",
        commune=hue.commune_code,
        full_name=hue.full_name,
        birth_year=hue.birth_date.year,
    )
    assert r.status_code == 200
    out = output_of(r)
    assert out["lookup-message"]["children"]["props"]["id"] == "lookup-refused"
    assert out["lookup-results"]["children"] is None
    assert hue.full_name not in text(r)
    # Crafted: the ID of a Huế resident.
    r = b.lookup(purpose="search_rescue", case="SC-1", national_id=hue.national_id)
    assert hue.full_name not in text(r)
    assert "lookup-none" in text(r)
    # Crafted: Huế's commune list.
    assert b.call(COMMUNES, {"lookup-province.value": "46"}).status_code == 403
    # Crafted link: a Huế ward is not prefilled.
    body = b.page("/lookup", f"?ward={hue.commune_code}")
    assert hue.commune_code not in body
    rows = sorted(lookup_rows(store), key=lambda e: e.id)
    assert [(e.action, e.details.get("reason")) for e in rows] == [
        ("lookup_refused", "scope"),
        ("lookup", None),
    ]
    assert rows[1].details["out_of_scope"] == 1 and rows[1].details["results"] == 0
    assert [e.details.get("requested") for e in store.audit_entries(action="access_denied")] == [
        "46"
    ]
    # The same requests succeed for the national operator.
    national = browser(app, "op_all")
    r = national.lookup(purpose="search_rescue", case="SC-1", national_id=hue.national_id)
    assert hue.full_name in text(r)


# -- lookups --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "case"),
    [(None, "SC-1"), ("search_rescue", None), ("search_rescue", ""), (None, None)],
)
def test_lookup_without_purpose_or_case_is_refused(app, registry, purpose, case):
    b = browser(app, "op68")
    p = person(registry, "68")
    r = b.lookup(purpose=purpose, case=case, national_id=p.national_id)
    assert r.status_code == 200
    assert p.full_name not in text(r)
    assert output_of(r)["lookup-message"]["children"]["props"]["id"] == "lookup-refused"
    (row,) = lookup_rows(app_store(app))
    assert row.action == "lookup_refused"
    assert row.details["reason"] == ("purpose" if purpose is None else "case_number")


def test_every_lookup_creates_exactly_one_audit_row(app, registry):
    store = app_store(app)
    b = browser(app, "op68")
    p = person(registry, "68", 1)
    attempts = [
        {"purpose": "search_rescue", "case": "SC-1", "national_id": p.national_id},
        {"purpose": "search_rescue", "case": "SC-1", "national_id": "000000000000"},
        {
            "purpose": "emergency_medical",
            "case": "YT/7",
            "mode": "name",
            "commune": p.commune_code,
            "full_name": p.full_name,
            "birth_year": p.birth_date.year,
        },
        {"purpose": "curiosity", "case": "SC-1", "national_id": p.national_id},
        {"purpose": "search_rescue", "case": "SC-1", "national_id": "12"},
        {
            "purpose": "search_rescue",
            "case": "SC-1",
            "mode": "name",
            "commune": "19753",
            "full_name": "Nguyễn Văn An",
            "birth_year": 1990,
        },
    ]
    expected = ["lookup", "lookup", "lookup", "lookup_refused", "lookup_refused", "lookup_refused"]
    for attempt, action in zip(attempts, expected, strict=True):
        before = store.table_counts()["audit_log"]
        r = b.lookup(**attempt)
        assert r.status_code == 200
        assert store.table_counts()["audit_log"] == before + 1
        (row,) = store.audit_entries(limit=1)
        assert (row.actor, row.action) == ("op68", action)
    found = sorted(store.audit_entries(action="lookup"), key=lambda e: e.id)
    assert [e.details["results"] for e in found] == [1, 0, found[2].details["results"]]
    assert found[2].details["results"] >= 1
    assert found[0].details["query"] == {"by": "id", "national_id": p.national_id}
    assert found[0].details["case"] == "SC-1" and found[0].details["from"] == "127.0.0.1"


def test_operator_browser_only_gets_masked_data(app, registry):
    p = person(registry, "68", 2)
    args = {"purpose": "incident_identity", "case": "123/QĐ-CA", "national_id": p.national_id}
    masked = text(browser(app, "op68").lookup(**args))
    assert p.full_name in masked
    assert p.national_id[:3] + "******" + p.national_id[-3:] in masked
    assert p.national_id not in masked and p.birth_date.isoformat() not in masked
    full = text(browser(app, "admin").lookup(**args))
    assert p.national_id in full and p.birth_date.isoformat() in full


def test_rate_limit_is_per_user_with_a_clear_message(app, registry):
    with app.server.app_context():
        app.server.extensions[lookup_page().EXTENSION] = LookupService(
            services().store, registry, rate_limit=RateLimit(2, timedelta(minutes=10))
        )
    b = browser(app, "op68")
    p = person(registry, "68")
    args = {"purpose": "search_rescue", "case": "SC-1", "national_id": p.national_id}
    remaining = [output_of(b.lookup(**args))["lookup-remaining"]["children"] for _ in range(2)]
    assert remaining == ["1", "0"]
    r = b.lookup(**args)
    assert output_of(r)["lookup-message"]["children"]["props"]["children"] == (
        lookup_page().tx("refused.rate_limited", "vi")
    )
    assert p.full_name not in text(r)
    assert p.full_name in text(browser(app, "op_all").lookup(**args))


def test_lookup_page_prefills_place_from_an_incident(app):
    b = browser(app, "op68")
    body = json.loads(b.page("/lookup", "?ward=25084"))
    text = json.dumps(body)
    assert '"value": "25084"' in text and '"value": "name"' in text
    assert b.page("/lookup", "?ward=<script>").count("<script>") == 0


# -- injection strings ------------------------------------------------------------------


def _texts(node: Any) -> Iterator[tuple[str, Any]]:
    """(component type, children) of every component in a Dash JSON tree."""
    if isinstance(node, dict):
        if "type" in node and "props" in node:
            yield node["type"], node["props"].get("children")
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


@pytest.mark.slow
@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_every_text_input_are_harmless(app, text):
    store = app_store(app)
    users_before = len(store.list_users())
    Browser(app).login(text)  # login form: username
    op = browser(app, "op68")
    base = {
        "purpose": "search_rescue",
        "case": "SC-1",
        "mode": "name",
        "commune": "25084",
        "full_name": "Nguyễn Văn An",
        "birth_year": 1990,
    }
    for field in ("case", "national_id", "full_name", "birth_year", "commune", "purpose"):
        attempt = dict(base, mode="id" if field == "national_id" else "name")
        attempt[field] = text
        assert op.lookup(**attempt).status_code == 200
    admin = browser(app, "admin")
    for actor_filter in (text, None):
        r = admin.call(
            AUDIT_TABLE,
            {
                "audit-actor.value": actor_filter,
                "audit-since.value": text,
                "audit-action.value": text,
                "audit-limit.value": text,
            },
        )
        assert r.status_code == 200
    # Shown as text: each string sits whole in a table cell's children, never as markup.
    r = admin.call(AUDIT_TABLE, {"audit-limit.value": 1000})
    cells = [(kind, kids) for kind, kids in _texts(r.get_json()) if isinstance(kids, str)]
    assert ("Td", text) in cells  # the refused login's actor
    assert any(kind == "Td" and text in kids for kind, kids in cells)  # inside details JSON
    kinds = {kind for kind, _ in _texts(r.get_json())}
    assert kinds <= {"Div", "P", "Table", "Thead", "Tbody", "Tr", "Th", "Td", "Span"}
    # Stored verbatim, and the statements they spell did nothing.
    refused = [e for e in lookup_rows(store) if e.action == "lookup_refused"]
    stored = {v for e in refused for v in e.details.values() if isinstance(v, str)}
    assert text in stored
    assert store.audit_entries(action="login_failed")[0].actor == text
    assert len(store.list_users()) == users_before
    assert store.table_counts()["audit_log"] > 0


# -- audit page --------------------------------------------------------------------------------


def test_audit_page_is_admin_only(app):
    for name in ("op68", "leader", "engineer"):
        b = browser(app, name)
        assert "access-denied" in b.page("/audit")
        assert b.call(AUDIT_TABLE).status_code == 403
        assert b.call(AUDIT_EXPORT, {"audit-export.n_clicks": 1}).status_code == 403
    body = browser(app, "admin").page("/audit")
    assert "audit-table-box" in body


def test_audit_filter_and_export(app, registry):
    store = app_store(app)
    op = browser(app, "op68")
    p = person(registry, "68")
    op.lookup(purpose="search_rescue", case="=HYPERLINK(1)", national_id=p.national_id)
    op.lookup(purpose="search_rescue", case="SC-7", national_id=p.national_id)
    admin = browser(app, "admin")
    r = admin.call(AUDIT_TABLE, {"audit-actor.value": "op68", "audit-action.value": "lookup"})
    cells = [kids for kind, kids in _texts(r.get_json()) if kind == "Td"]
    assert "lookup" in cells and "lookup_refused" not in cells and "admin" not in cells
    r = admin.call(
        AUDIT_EXPORT,
        {"audit-export.n_clicks": 1},
        {"audit-actor.value": "op68", "audit-action.value": "all", "audit-limit.value": 1000},
    )
    data = output_of(r)["audit-download"]["data"]
    assert data["filename"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data["content"])))
    assert {row["actor"] for row in rows} == {"op68"}
    assert {row["action"] for row in rows} >= {"login", "lookup", "lookup_refused"}
    refused = next(row for row in rows if row["action"] == "lookup_refused")
    # A spreadsheet would run "=HYPERLINK(...)": the cell is quoted so it stays text.
    assert refused["details"].startswith("{") and "=HYPERLINK(1)" in refused["details"]
    (export,) = store.audit_entries(action="audit_export")
    assert export.actor == "admin" and export.details["rows"] == len(rows)
    assert export.details["filters"]["actor"] == "op68"


def test_audit_filters_are_parsed_safely(app):
    Browser(app)
    audit = importlib.import_module("dashboards.pages.audit")
    tz = "Asia/Ho_Chi_Minh"
    filters, bad = audit.parse_filters(" op68 ", "lookup", "2025-07-01", 50, tz)
    assert not bad
    # Midnight in Vietnam is 17:00 UTC the day before.
    assert filters["since"].isoformat() == "2025-06-30T17:00:00+00:00"
    assert (filters["actor"], filters["action"], filters["limit"]) == ("op68", "lookup", 50)
    filters, bad = audit.parse_filters(["x"], {"a": 1}, "1' OR 1=1", "99999", tz)
    assert bad and filters == {"actor": None, "action": None, "since": None, "limit": 200}
    assert audit.audit_csv([], tz).splitlines() == [
        "id,ts_utc,ts_local,actor,action,target,province,details"
    ]
