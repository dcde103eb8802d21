"""The app shell: header with navigation, freshness indicator, clock, language and user."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
from dash import dcc, html

from dashboards.fmt import province_name
from dashboards.i18n import role_text, t
from ioc.auth import can
from ioc.store import User

NAV = (
    ("/live", "nav.live", "live.view"),
    ("/cameras", "nav.cameras", "cameras.view"),
    ("/kpi", "nav.kpi", "kpi.view"),
    ("/programmes", "nav.programmes", "kpi.view"),  # issue 16: registers
    ("/review", "nav.review", "kpi.view"),  # issue 16: registers
    ("/replay", "nav.replay", "replay.run"),
    ("/lookup", "nav.lookup", "population.lookup"),
    ("/audit", "nav.audit", "audit.view"),
)
TICK_MS = 1000
STATUS_MS = 2000


def client_texts(lang: str) -> dict[str, str]:
    """Texts the browser-side clock and freshness indicator need."""
    keys = (
        "fresh.none",
        "fresh.label",
        "fresh.ago",
        "fresh.ahead",
        "fresh.stale",
        "fresh.ingest_down",
        "fresh.offline",
        "fresh.replica",
        "clock.tz",
        "alarms.overdue",
    )
    return {k: t(k, lang) for k in keys}


def shell_layout(user: User | None, lang: str, *, tz: str, stale_after_s: int) -> html.Div:
    """The whole page frame; the page itself goes into dash.page_container."""
    config = {"tz": tz, "lang": lang, "stale_after_s": stale_after_s, "texts": client_texts(lang)}
    right: list[Any] = []
    nav: list[Any] = []
    timers: list[Any] = [dcc.Interval(id="tick", interval=TICK_MS)]
    if user is not None:
        nav = [
            dcc.Link(t(label, lang), href=href, className="nav-link", id=f"nav-{href.strip('/')}")
            for href, label, permission in NAV
            if can(user, permission)
        ]
        timers.append(dcc.Interval(id="status-tick", interval=STATUS_MS))
        right.append(
            html.Div(
                [html.Span(className="dot"), html.Span(t("fresh.none", lang), id="freshness-text")],
                id="freshness",
                className="freshness unknown",
                title="",
            )
        )
    right.append(
        html.Div(
            [
                html.Span("--:--:--", id="clock-time", className="clock-time"),
                html.Span("", id="clock-date", className="clock-date"),
            ],
            className="clock",
            title=f"{t('clock.tz', lang)} ({tz})",
        )
    )
    right.append(
        html.Div(
            [
                html.A(
                    "VI",
                    href="/auth/lang/vi",
                    id="lang-vi",
                    className="lang" + (" active" if lang == "vi" else ""),
                ),
                html.A(
                    "EN",
                    href="/auth/lang/en",
                    id="lang-en",
                    className="lang" + (" active" if lang == "en" else ""),
                ),
            ],
            className="lang-switch",
        )
    )
    if user is not None:
        place = province_name(user.province) if user.province else t("scope.national", lang)
        right.append(
            html.Div(
                [
                    html.Span(user.username, className="user-name", id="user-name"),
                    html.Span(
                        f"{role_text(user.role, lang)} · {place}",
                        className="user-scope",
                        id="user-scope",
                    ),
                ],
                className="user",
            )
        )
        right.append(
            html.Form(
                html.Button(
                    t("nav.logout", lang), type="submit", className="btn btn-ghost", id="logout"
                ),
                action="/auth/logout",
                method="POST",
                className="logout-form",
            )
        )
    header = html.Header(
        [
            html.Div(
                [
                    html.Span("IOC", className="brand-mark"),
                    html.Span(t("app.title", lang), className="brand-name"),
                ],
                className="brand",
            ),
            html.Nav(nav, className="nav"),
            html.Div(right, className="header-right"),
        ],
        className="topbar",
    )
    return html.Div(
        [
            header,
            html.Main(dash.page_container, className="page"),
            *timers,
            dcc.Store(id="shell-config", data=config),
            dcc.Store(id="shell-status"),
        ],
        className="shell",
        lang=lang,
    )


def login_redirect(next_path: str) -> html.Div:
    """Sends a browser without a session to the login page."""
    return html.Div(
        dcc.Location(id="login-redirect", href=f"/login?next={quote(next_path)}", refresh=True)
    )


def denied_notice(lang: str) -> html.Div:
    """Shown when a role may not open a page."""
    return html.Div(
        [html.H2(t("denied.title", lang)), html.P(t("denied.body", lang))],
        className="panel notice",
        id="access-denied",
    )
