"""Plain HTTP routes next to Dash: camera snapshots and the offline basemap's GeoJSON."""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import Any

import flask
from werkzeug.exceptions import NotFound, Unauthorized

from dashboards.auth import check_place, current_user, deny
from dashboards.services import services
from ioc.auth import can
from ioc.events import Event
from ioc.geo import geography
from ioc.snapshots import read_snapshot

logger = logging.getLogger(__name__)

SNAPSHOT_ROUTE = "/snapshots/event/"


def snapshot_url(event_id: str) -> str:
    """Where the browser fetches the snapshot of an event."""
    return f"{SNAPSHOT_ROUTE}{event_id}"


def snapshot_ref(event: Event) -> dict[str, Any] | None:
    """The SnapshotRef of an event, if its attributes carry one."""
    ref = event.attrs.get("snapshot") if isinstance(event.attrs, dict) else None
    return ref if isinstance(ref, dict) and (ref.get("path") or ref.get("url")) else None


def _snapshot(event_id: str) -> flask.Response:
    user = current_user()
    if user is None:
        raise Unauthorized("sign in first")
    if not can(user, "cameras.view") and not can(user, "live.view"):
        raise deny(user, "cameras.view", snapshot=event_id)
    svc = services()
    event = svc.store.get_event(event_id)
    if event is None:
        raise NotFound()
    check_place(user, event.province, "snapshot")
    ref = snapshot_ref(event) or {}
    path, sha256, size = ref.get("path"), ref.get("sha256"), ref.get("size")
    if not (isinstance(path, str) and isinstance(sha256, str) and isinstance(size, int)):
        raise NotFound()
    # Only files under the snapshot root whose bytes match the event's hash are served.
    data = read_snapshot(svc.snapshot_dir, path, sha256, size)
    if data is None:
        raise NotFound()
    response = flask.Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.set_etag(sha256)
    return response.make_conditional(flask.request)


@cache
def _province_geojson_bytes() -> bytes:
    return json.dumps(geography().province_geojson(), separators=(",", ":")).encode()


@cache
def _commune_geojson_bytes(code: str) -> bytes:
    return json.dumps(geography().commune_geojson(code), separators=(",", ":")).encode()


def _geo_response(body: bytes) -> flask.Response:
    response = flask.Response(body, mimetype="application/geo+json")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


def _provinces() -> flask.Response:
    return _geo_response(_province_geojson_bytes())


def _communes(code: str) -> flask.Response:
    if not geography().is_province(code):
        raise NotFound()
    return _geo_response(_commune_geojson_bytes(geography().province(code).code))


def _healthz() -> flask.Response:
    # For load balancers: no data, no version, no login; 503 when the store does not answer.
    try:
        ok = services().store.ping()
    except Exception:  # the store could not even be opened: not ready, and no details
        logger.warning("health probe: store unavailable", exc_info=True)
        ok = False
    response = flask.jsonify(status="ok" if ok else "unavailable")
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def install(server: flask.Flask) -> None:
    """Register the routes (each behind the login guard of dashboards.auth)."""
    server.add_url_rule("/healthz", "ioc_healthz", _healthz)
    server.add_url_rule(f"{SNAPSHOT_ROUTE}<event_id>", "ioc_snapshot", _snapshot)
    server.add_url_rule("/geo/provinces.geojson", "ioc_geo_provinces", _provinces)
    server.add_url_rule("/geo/communes/<code>.geojson", "ioc_geo_communes", _communes)
