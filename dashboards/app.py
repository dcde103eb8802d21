"""The Dash app: `create_app(settings)` for `ioc serve`, `ioc demo`, gunicorn and tests."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask
from dash import ClientsideFunction, Dash, Input, Output, State

from dashboards import auth, routes
from dashboards.auth import current_lang, current_user, guard, scope
from dashboards.components.shell import shell_layout
from dashboards.fmt import epoch_ms
from dashboards.services import EXTENSION, Services, services
from ioc.settings import Settings, get_settings
from ioc.store import User

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DEFAULT_STALE_AFTER_S = 60
# A worker that has not reported for this long is taken as stalled (heartbeats are seconds apart).
WORKER_STALL_S = 30
# Workers silent for longer than this are gone, not stalled; they no longer count.
WORKER_GONE = timedelta(minutes=10)

INDEX = """<!DOCTYPE html>
<html lang="vi">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body class="ioc">
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def create_app(
    settings: Settings | None = None,
    *,
    stale_after_s: int = DEFAULT_STALE_AFTER_S,
    secure_cookies: bool = False,
) -> Dash:
    """Build the web app; nothing is read from the store until the first request."""
    settings = settings or get_settings()
    server = flask.Flask("dashboards")
    server.config.update(
        SECRET_KEY=settings.session_secret(),
        SESSION_COOKIE_NAME="ioc_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        # The cookie lives as long as the longest session; the store decides if it still counts.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_max_hours),
        # The store ends a session after session_max_hours from login whatever the cookie says,
        # so re-signing and re-sending the cookie on every 1 s callback bought nothing but CPU.
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    server.extensions[EXTENSION] = Services(settings=settings, stale_after_s=stale_after_s)
    auth.install(server)
    routes.install(server)

    app = Dash(
        "dashboards",
        server=server,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        serve_locally=True,  # closed IOC networks: every script comes from this server
        suppress_callback_exceptions=True,  # pages mount their components after the shell
        title="IOC",
        update_title=None,  # no "Updating..." flicker on a wall that refreshes every second
        index_string=INDEX,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = _layout
    _register_shell_callbacks(app)
    _install_security_headers(app)
    return app


def _layout() -> Any:
    svc = services()
    return shell_layout(
        current_user(), current_lang(), tz=svc.settings.timezone, stale_after_s=svc.stale_after_s
    )


def _register_shell_callbacks(app: Dash) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="ioc", function_name="clock"),
        Output("clock-time", "children"),
        Output("clock-date", "children"),
        Input("tick", "n_intervals"),
        State("shell-config", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ioc", function_name="freshness"),
        Output("freshness-text", "children"),
        Output("freshness", "className"),
        Output("freshness", "title"),
        Input("tick", "n_intervals"),
        Input("shell-status", "data"),
        State("shell-config", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ioc", function_name="langLinks"),
        Output("lang-vi", "href"),
        Output("lang-en", "href"),
        Input("_pages_location", "pathname"),
        Input("_pages_location", "search"),
    )
    app.callback(
        Output("shell-status", "data"),
        Input("status-tick", "n_intervals"),
    )(shell_status)


@guard("live.view")
def shell_status(user: User, _n: int | None) -> dict[str, Any]:
    """Newest stored event (in the user's scope) and ingest heartbeats, for the freshness badge."""
    svc = services()
    province = scope(user, None)
    # Every page asks every 2 s; sessions of the same second share the two lookups.
    newest = svc.memo.get(
        ("newest-ts", province), lambda: svc.reads.newest_event_ts(province=province), 0.5
    )
    # Reading from a replica (IOC_DB_READ_URL): how far behind it is, for the badge.
    lag = (
        svc.memo.get(("replica-lag",), svc.reads.replica_lag_s, 1.0)
        if svc.settings.db_read_url
        else None
    )
    now = datetime.now(UTC)
    recent = svc.memo.get(("workers",), lambda: svc.store.workers(stale_after=WORKER_GONE), 0.5)
    heartbeat = max((w.heartbeat_at for w in recent), default=None)
    return {
        "newest_ms": epoch_ms(newest),
        "server_ms": int(time.time() * 1000),
        "heartbeat_ms": epoch_ms(heartbeat),
        "workers": len(recent),
        "stale_after_s": services().stale_after_s,
        "worker_stall_s": WORKER_STALL_S,
        "now_iso": now.isoformat(),
        "replica_lag_s": None if lag is None else round(lag, 1),
    }


def _install_security_headers(app: Dash) -> None:
    server = app.server

    @server.after_request
    def _headers(response: flask.Response) -> flask.Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            # connect-src 'self' also keeps the map from ever reaching for remote tiles or glyphs.
            hashes = " ".join(app.csp_hashes())
            response.headers["Content-Security-Policy"] = (
                "default-src 'self'; "
                f"script-src 'self' 'unsafe-eval' {hashes}; "
                "style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data: blob:; "
                "font-src 'self' data:; "
                "connect-src 'self'; "
                "worker-src 'self' blob:; "
                "child-src 'self' blob:; "
                "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
            )
        return response
