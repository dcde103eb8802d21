"""Cameras page: a wall of latest snapshots with health badges, and one camera's history."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboards.auth import check_place, current_lang, guard, page, scope
from dashboards.components.cameras import (
    STATUSES,
    camera_card,
    camera_history,
    name_parts,
    status_summary,
)
from dashboards.components.filters import ALL as ALL_VALUES
from dashboards.components.filters import (
    clean_filters,
    commune_options,
    filter_bar,
    initial_province,
)
from dashboards.data import STATUS_ORDER, CameraRow, camera_rows, latest_snapshots
from dashboards.figures import camera_timeline_figure
from dashboards.i18n import t
from dashboards.routes import snapshot_ref
from dashboards.services import services
from dashboards.state import SNAPSHOT_KINDS, camera_status, is_camera, open_conditions
from ioc.events import CAMERA_HEALTH_KINDS
from ioc.geo import geography
from ioc.store import User

dash.register_page(__name__, path="/cameras", title="IOC — Camera", order=1)

WALL_LIMIT = 60
SNAPSHOT_PROBE_LIMIT = 400  # one indexed probe per camera; beyond this, name order only
REFRESH_MS = 5000
FORCE_REFRESH_S = 30  # "last seen" ages and silent-camera status change without new events


def _status_options(lang: str) -> list[dict[str, str]]:
    return [{"label": t("filter.all", lang), "value": ALL_VALUES}] + [
        {"label": t(f"cam.status.{s}", lang), "value": s} for s in STATUSES
    ]


@page("cameras.view")
def layout(
    user: User,
    lang: str,
    province: str | None = None,
    commune: str | None = None,
    status: str | None = None,
    camera: str | None = None,
    **_: Any,
) -> html.Div:
    """Wall and history; ?camera=ID opens a camera's history directly."""
    prov = initial_province(user, province)
    _p, ward, _d, _s = clean_filters(prov, commune)
    status_field = html.Label(
        [
            html.Span(t("filter.status", lang), className="field-label"),
            dcc.Dropdown(
                id="cam-status",
                options=_status_options(lang),
                value=status if status in STATUSES else ALL_VALUES,
                clearable=False,
                className="dropdown",
            ),
        ],
        className="field",
    )
    return html.Div(
        [
            filter_bar(
                "cam",
                user,
                lang,
                province=prov,
                ward=ward or ALL_VALUES,
                with_domain=False,
                with_severity=False,
                extra=[status_field],
            ),
            html.Div(id="cam-summary"),
            html.Div(id="cam-history"),
            html.Div(id="cam-wall", className="cam-wall"),
            html.P("", id="cam-more", className="muted small"),
            dcc.Store(id="cam-sig"),
            dcc.Store(id="cam-history-sig"),
            dcc.Store(id="cam-selected", data={"id": camera} if camera else None),
            dcc.Interval(id="cam-tick", interval=REFRESH_MS),
        ],
        className="cameras-page",
        id="cameras-page",
    )


@callback(
    Output("cam-commune", "options"),
    Output("cam-commune", "value"),
    Input("cam-province", "value"),
    prevent_initial_call=True,
)
@guard("cameras.view")
def communes_for_province(user: User, province: str | None) -> tuple[list[dict], str]:
    """Commune choices follow the province."""
    prov = scope(user, province if province != ALL_VALUES else None)
    return commune_options(prov, current_lang()), ALL_VALUES


@callback(
    Output("cam-wall", "children"),
    Output("cam-summary", "children"),
    Output("cam-more", "children"),
    Output("cam-sig", "data"),
    Input("cam-tick", "n_intervals"),
    Input("cam-province", "value"),
    Input("cam-commune", "value"),
    Input("cam-status", "value"),
    State("cam-sig", "data"),
)
@guard("cameras.view")
def update_wall(
    user: User, _n: Any, province: Any, commune: Any, status: Any, last_sig: Any
) -> tuple:
    """Cameras in scope, worst first; rebuilt when a new event arrives or every 30 s."""
    prov, ward, _d, _s = clean_filters(province, commune)
    prov = scope(user, prov)
    if ward is not None and geography().commune(ward).province_code != prov:
        ward = None
    store = services().store
    lang = current_lang()
    newest = store.newest_event_ts(province=prov)
    sig = json.dumps([prov, ward, status, lang, str(newest), int(time.time() // FORCE_REFRESH_S)])
    if sig == last_sig:
        raise PreventUpdate
    now = datetime.now(UTC)
    rows = camera_rows(store, province=prov, ward=ward, now=now)
    shown = [r for r in rows if status in (None, ALL_VALUES) or r.status == status]
    # Within a status, cameras with a picture first: the wall shows what it can show.
    snaps = latest_snapshots(store, [r.device.source for r in shown[:SNAPSHOT_PROBE_LIMIT]], now)
    shown.sort(
        key=lambda r: (
            STATUS_ORDER[r.status],
            r.device.source not in snaps,
            r.device.name or r.device.source,
        )
    )
    page_rows = shown[:WALL_LIMIT]
    tz = services().settings.timezone
    # Among all cameras in scope, so a name is told apart from those on the next pages too.
    parts = name_parts([r.device.name or r.device.source for r in shown])
    cards = [
        camera_card(
            r, snaps.get(r.device.source), lang, tz, now, parts[r.device.name or r.device.source]
        )
        for r in page_rows
    ]
    if not cards:
        cards = [html.P(t("cam.empty", lang), className="empty")]
    more = f"{len(page_rows)} / {len(shown)}" if len(shown) > len(page_rows) else ""
    return cards, status_summary(rows, lang), more, sig


dash.clientside_callback(
    ClientsideFunction(namespace="ioc", function_name="pick"),
    Output("cam-selected", "data"),
    Input({"type": "cam-card", "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)


@callback(
    Output("cam-history", "children"),
    Output("cam-history-sig", "data"),
    Input("cam-selected", "data"),
    Input("cam-tick", "n_intervals"),
    State("cam-history-sig", "data"),
)
@guard("cameras.view")
def show_history(user: User, selected: Any, _n: Any, last_sig: Any) -> tuple:
    """One camera's last 24 hours: health timeline, recent events, snapshots."""
    source = selected.get("id") if isinstance(selected, dict) else None
    if not source:
        return None, None
    store = services().store
    device = store.get_device(str(source))
    if device is None or not is_camera(device):
        return None, None
    check_place(user, device.province, "camera")
    lang = current_lang()
    newest = store.find_events(source=device.source, limit=1)
    sig = json.dumps(
        [
            device.source,
            newest[0].id if newest else None,
            device.status,
            lang,
            int(time.time() // 60),
        ]
    )
    if sig == last_sig:
        raise PreventUpdate
    tz = services().settings.timezone
    now = datetime.now(UTC)
    since = now - timedelta(hours=24)
    # A week of health events, so a condition opened before the window still shows as open.
    health = store.find_events(
        source=device.source, kinds=CAMERA_HEALTH_KINDS, since=now - timedelta(days=7), limit=5000
    )
    conds = open_conditions(health).get(device.source, [])
    row = CameraRow(device, camera_status(device, conds, now), tuple(conds))
    timeline = camera_timeline_figure(health, since=since, now=now, tz=tz, lang=lang)
    events = store.find_events(source=device.source, since=since, limit=15)
    snaps = [
        e
        for e in store.find_events(
            source=device.source, kinds=SNAPSHOT_KINDS, since=since, limit=40
        )
        if snapshot_ref(e)
    ][:8]
    body = camera_history(row, timeline=timeline, events=events, snapshots=snaps, lang=lang, tz=tz)
    return body, sig
