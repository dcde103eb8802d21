"""WSGI entry for production: `gunicorn 'dashboards.wsgi:server'` (settings from IOC_* / ioc.toml)."""

from __future__ import annotations

import flask

from dashboards.app import create_app


def create_server(**options: object) -> flask.Flask:
    """A configured Flask server, e.g. `gunicorn 'dashboards.wsgi:create_server(secure_cookies=True)'`."""
    return create_app(**options).server  # type: ignore[arg-type]


server = create_server()
