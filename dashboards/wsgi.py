"""WSGI entry for production: `gunicorn 'dashboards.wsgi:server'` (settings from IOC_* / ioc.toml).

`ioc serve --workers` uses `dashboards.wsgi:create_server(...)`. The module-level `server`
is built only when asked for: building it on import as well would make a second Dash app
in the same process, and the pages' callbacks would be registered (and run) twice.
"""

from __future__ import annotations

from typing import Any

import flask

from dashboards.app import create_app

_server: flask.Flask | None = None


def create_server(**options: object) -> flask.Flask:
    """A configured Flask server, e.g. `gunicorn 'dashboards.wsgi:create_server(secure_cookies=True)'`."""
    return create_app(**options).server  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    global _server
    if name == "server":
        if _server is None:
            _server = create_server()
        return _server
    raise AttributeError(name)
