"""Login page: a plain HTML form posted to /auth/login (works without callbacks)."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from dashboards.auth import current_lang, current_user, safe_next
from dashboards.i18n import t

dash.register_page(__name__, path="/login", title="IOC — Đăng nhập", order=99)


def error_text(error: str | None, wait: str | None, lang: str) -> str | None:
    """The message for the login error code in the URL (None when there is none)."""
    if not error:
        return None
    if error == "throttled":
        seconds = int(wait) if isinstance(wait, str) and wait.isdigit() else 0
        return t("login.throttled", lang).format(seconds=max(1, min(seconds, 86400)))
    return t("login.error", lang)


def _field(label: str, name: str, **kw: Any) -> html.Label:
    """A labelled, required form input posted as `name` (id login-{name})."""
    return html.Label(
        [
            html.Span(label, className="field-label"),
            dcc.Input(id=f"login-{name}", name=name, required=True, className="input", **kw),
        ],
        className="field",
    )


def layout(
    error: str | None = None, next: str | None = None, wait: str | None = None, **_: Any
) -> html.Div:
    """Username and password; an already signed-in user goes straight on."""
    lang = current_lang()
    target = safe_next(next)
    if current_user() is not None:
        return html.Div(dcc.Location(id="login-done", href=target, refresh=True))
    return html.Div(
        html.Form(
            [
                html.H1(t("app.title", lang), className="login-brand"),
                html.H2(t("login.title", lang)),
                html.P(
                    error_text(error, wait, lang),
                    className="form-error",
                    id="login-error",
                    role="alert",
                )
                if error
                else None,
                _field(
                    t("login.username", lang),
                    "username",
                    type="text",
                    autoComplete="username",
                    autoFocus=True,
                    maxLength=64,
                ),
                _field(
                    t("login.password", lang),
                    "password",
                    type="password",
                    autoComplete="current-password",
                    maxLength=256,
                ),
                dcc.Input(type="hidden", name="next", value=target, id="login-next"),
                html.Button(
                    t("login.submit", lang),
                    type="submit",
                    id="login-submit",
                    className="btn btn-primary",
                ),
                html.P(t("login.hint", lang), className="muted small"),
            ],
            action="/auth/login",
            method="POST",
            className="login-form panel",
            id="login-form",
        ),
        className="login-page",
    )
