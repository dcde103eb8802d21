"""Live operations page: incident feed, alarm queue, live map, ingest health.

Polling is cheap: each tick first reads one indexed max(ts) (or the alarm list) and
answers 204 when nothing changed since the browser's last copy.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import ALL, ClientsideFunction, Input, Output, Patch, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboards.auth import check_place, current_lang, guard, page, scope, visible_alarm
from dashboards.components.alarms import (
    action_form,
    action_log,
    alarm_cards,
    alarm_summary,
)
from dashboards.components.details import device_details, event_details, ward_details
from dashboards.components.filters import (
    ALL as ALL_VALUES,
)
from dashboards.components.filters import (
    clean_filters,
    commune_options,
    filter_bar,
    initial_province,
)
from dashboards.components.health import dead_letter_summary, workers_table
from dashboards.data import STATUS_ORDER, camera_rows, latest_snapshots
from dashboards.figures import (
    MAP_TRACES,
    MAX_INCIDENT_POINTS,
    MapData,
    events_per_minute_figure,
    live_map_figure,
    map_trace_data,
)
from dashboards.fmt import fmt_time, place_name
from dashboards.i18n import kind_text, t
from dashboards.services import services
from dashboards.state import (
    TELEMETRY_KINDS,
    camera_status,
    is_camera,
    is_vehicle_live,
    open_conditions,
    open_places,
)
from ioc.auth import can
from ioc.events import CAMERA_HEALTH_KINDS
from ioc.geo import geography
from ioc.store import User

dash.register_page(__name__, path="/live", title="IOC — Trực tiếp", order=0)

FEED_LIMIT = 60
ALARM_LIMIT = 100
INCIDENT_WINDOW = timedelta(minutes=60)
OPEN_WINDOW = timedelta(days=7)
EPM_MINUTES = 15
FORCE_REFRESH_S = 15  # catch late-arriving (older-stamped) events that do not move max(ts)
SLOW_LAYERS_EVERY = 10  # seconds between refreshes of cameras, gaps and outages
HEALTH_EVERY_S = 5  # the health panel's rhythm (live-slow); its answers are shared per period
UNITS = (
    "Công an xã/phường",
    "Cảnh sát PCCC và CNCH",
    "Trung tâm cấp cứu 115",
    "Điện lực tỉnh",
    "Trung tâm điều hành xe buýt",
    "Nhà mạng di động",
    "Đội kỹ thuật camera",
)


@page("live.view")
def layout(
    user: User,
    lang: str,
    province: str | None = None,
    commune: str | None = None,
    domain: str | None = None,
    severity: str | None = None,
    **_: Any,
) -> html.Div:
    """The live page; filters may come from the query string (?province=68&severity=3)."""
    prov = initial_province(user, province)
    _p, ward, dom, sev = clean_filters(prov, commune, domain, severity)
    can_act = can(user, "alarms.act")
    return html.Div(
        [
            filter_bar(
                "live",
                user,
                lang,
                province=prov,
                ward=ward or ALL_VALUES,
                domain=dom or ALL_VALUES,
                severity=sev,
                extra=[
                    dcc.Checklist(
                        id="live-show-resolved",
                        options=[{"label": t("alarms.show_resolved", lang), "value": "yes"}],
                        value=[],
                        className="checklist",
                    )
                ],
            ),
            html.Div(
                [
                    html.Section(
                        [
                            html.H2(
                                [
                                    t("feed.title", lang),
                                    html.Span("", id="live-feed-count", className="count"),
                                ]
                            ),
                            html.Ul(id="live-feed", className="feed"),
                        ],
                        className="panel feed-panel",
                    ),
                    html.Section(
                        [
                            html.H2(
                                [
                                    t("map.title", lang),
                                    html.Span(t("map.click_hint", lang), className="hint"),
                                ]
                            ),
                            dcc.Graph(
                                id="live-map",
                                className="map",
                                config={
                                    "displaylogo": False,
                                    "scrollZoom": True,
                                    "modeBarButtonsToRemove": ["toImage"],
                                },
                            ),
                            # Floats over the map when something is picked; empty, it hides.
                            html.Div(id="live-details", className="details-box"),
                        ],
                        className="panel map-panel",
                    ),
                    html.Section(
                        [
                            html.H2(
                                [
                                    t("alarms.title", lang),
                                    html.Span("", id="live-alarm-count", className="count"),
                                ]
                            ),
                            html.Ul(id="live-alarms", className="alarm-list"),
                            html.Div(
                                [
                                    html.Div(
                                        html.P(t("alarms.select", lang), className="muted"),
                                        id="alarm-summary",
                                    ),
                                    action_form(lang, can_act, _assignees(user) if can_act else ()),
                                    html.Div(id="alarm-log-box"),
                                ],
                                id="alarm-detail",
                                className="alarm-detail hidden",
                            ),
                        ],
                        className="panel alarm-panel",
                    ),
                    html.Section(
                        [
                            html.H2(t("health.title", lang)),
                            html.H4(t("health.per_minute", lang)),
                            dcc.Graph(
                                id="live-epm", config={"displayModeBar": False}, className="epm"
                            ),
                            html.Div(id="live-deadletters"),
                            html.Div(id="live-workers"),
                        ],
                        className="panel health-panel",
                    ),
                ],
                className="live-grid",
            ),
            dcc.Store(id="live-feed-sig"),
            dcc.Store(id="live-map-sig"),
            dcc.Store(id="live-alarm-sig"),
            dcc.Store(id="alarm-detail-sig"),
            dcc.Store(id="alarm-detail-tick"),
            dcc.Store(id="live-selected"),
            dcc.Store(id="alarm-selected"),
            dcc.Store(id="alarm-version", data=0),
            dcc.Interval(id="live-slow", interval=5000),
        ],
        className="live-page",
        id="live-page",
    )


def _assignees(user: User) -> list[str]:
    users = [
        u.username
        for u in services().store.list_users()
        if not u.disabled and (user.province is None or u.province in (None, user.province))
    ]
    return users + list(UNITS)


def _filters(user: User, province: Any, commune: Any, domain: Any, severity: Any):
    prov, ward, dom, sev = clean_filters(province, commune, domain, severity)
    prov = scope(user, prov)
    if ward is not None and geography().commune(ward).province_code != prov:
        ward = None
    return prov, ward, dom, sev


# --- filters --------------------------------------------------------------------------


@callback(
    Output("live-commune", "options"),
    Output("live-commune", "value"),
    Input("live-province", "value"),
    prevent_initial_call=True,
)
@guard("live.view")
def communes_for_province(user: User, province: str | None) -> tuple[list[dict], str]:
    """Commune choices follow the province."""
    prov = scope(user, province if province != ALL_VALUES else None)
    return commune_options(prov, current_lang()), ALL_VALUES


# --- one tick: feed, map and alarm queue ------------------------------
#
# One request per page per second instead of four. Each part answers no_update when its
# signature (scope, filters, data version, language) is what the page already shows; the
# whole answer is a 204 when no part moved. What a part renders depends only on that
# signature, so it is built once per data change and shared by every session asking for
# the same thing (services().render). Scope comes from scope(user, ...) after the guard,
# and is in every key: an answer for one province is never found by a request for another.

KEEP = dash.no_update
VERSION_MEMO_S = 0.5  # sessions ticking within this share one data-version lookup


def _newest(prov: str | None) -> str:
    """The data version of a scope: its newest stored event time (shared for VERSION_MEMO_S)."""
    svc = services()
    return svc.memo.get(
        ("newest", prov), lambda: str(svc.reads.newest_event_ts(province=prov)), VERSION_MEMO_S
    )


def _plain(value: Any) -> Any:
    """Components or figures as the plain JSON the browser gets: encoded once, then reused."""
    from plotly.io.json import to_json_plotly

    return json.loads(to_json_plotly(value))


@callback(
    Output("live-feed", "children"),
    Output("live-feed-count", "children"),
    Output("live-feed-sig", "data"),
    Output("live-map", "figure"),
    Output("live-map-sig", "data"),
    Output("live-alarms", "children"),
    Output("live-alarm-count", "children"),
    Output("live-alarm-sig", "data"),
    Input("tick", "n_intervals"),
    Input("live-province", "value"),
    Input("live-commune", "value"),
    Input("live-domain", "value"),
    Input("live-severity", "value"),
    Input("live-show-resolved", "value"),
    Input("alarm-selected", "data"),
    Input("alarm-version", "data"),
    State("live-feed-sig", "data"),
    State("live-map-sig", "data"),
    State("live-alarm-sig", "data"),
)
@guard("live.view")
def live_tick(
    user: User,
    _n: Any,
    province: Any,
    commune: Any,
    domain: Any,
    severity: Any,
    show_resolved: Any,
    selected: Any,
    version: Any,
    feed_sig: Any,
    map_sig: Any,
    alarm_sig: Any,
) -> tuple:
    """Feed, map and alarm queue, following the 1 s tick in one answer."""
    prov, ward, dom, sev = _filters(user, province, commune, domain, severity)
    lang = current_lang()
    out = (
        *feed_part(prov, ward, dom, sev, lang, feed_sig),
        *map_part(prov, ward, dom, sev, lang, map_sig),
        *alarms_part(prov, ward, dom, bool(show_resolved), selected, version, lang, alarm_sig),
    )
    if all(o is KEEP for o in out):
        raise PreventUpdate
    return out


def feed_part(
    prov: str | None, ward: str | None, dom: str | None, sev: int, lang: str, last_sig: Any
) -> tuple[Any, Any, Any]:
    """Newest incidents first; rendered once per (scope, filters, newest event, language)."""
    newest = _newest(prov)
    sig = json.dumps([prov, ward, dom, sev, newest, lang, int(time.time() // FORCE_REFRESH_S)])
    if sig == last_sig:
        return KEEP, KEEP, KEEP

    def build() -> tuple[str, Any, str]:
        from dashboards.components.feed import feed_rows

        events = services().reads.find_events(
            province=prov,
            ward=ward,
            domain=dom,
            min_severity=sev,
            exclude_kinds=TELEMETRY_KINDS,
            limit=FEED_LIMIT,
        )
        rows = _plain(feed_rows(events, lang, services().settings.timezone))
        return sig, rows, str(len(events))

    # While another request builds this version, the last one of the same view is served
    # with its own signature: this page asks again next tick instead of waiting now.
    view = ("feed", prov, ward, dom, sev, lang)
    built_sig, rows, count = services().render.get(("feed", sig), build, view=view)
    if built_sig == last_sig:
        return KEEP, KEEP, KEEP
    return rows, count, built_sig


dash.clientside_callback(
    ClientsideFunction(namespace="ioc", function_name="pick"),
    Output("live-selected", "data"),
    Input({"type": "feed-item", "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)


# --- live map ---------------------------------------------------------------------------


def _map_layers(
    prov: str | None,
    ward: str | None,
    dom: str | None,
    sev: int,
    lang: str,
    *,
    slow: bool,
) -> dict[str, Any]:
    store = services().reads
    tz = services().settings.timezone
    now = datetime.now(UTC)
    since = now - INCIDENT_WINDOW
    geo = geography()
    out: dict[str, Any] = {}
    counts = [
        c
        for c in store.event_counts_by_ward(
            since=since, province=prov, domain=dom, min_severity=sev, exclude_kinds=TELEMETRY_KINDS
        )
        if ward is None or c[1] == ward
    ]
    total = sum(n for _p, _w, n, _top in counts)
    if total > MAX_INCIDENT_POINTS:
        out["incidents"] = []
        out["incident_areas"] = [
            {
                "ward": w,
                "lat": geo.communes[w].lat,
                "lon": geo.communes[w].lon,
                "n": n,
                "top": top,
                "place": place_name(p, w),
            }
            for p, w, n, top in counts
            if w and w in geo.communes
        ]
    else:
        events = store.find_events(
            province=prov,
            ward=ward,
            domain=dom,
            min_severity=sev,
            since=since,
            exclude_kinds=TELEMETRY_KINDS,
            limit=MAX_INCIDENT_POINTS,
        )
        out["incident_areas"] = []
        out["incidents"] = [
            {
                "id": e.id,
                "lat": e.lat,
                "lon": e.lon,
                "severity": e.severity,
                "kind_text": kind_text(e.kind, lang),
                "place": place_name(e.province, e.ward),
                "time": fmt_time(e.ts, tz),
            }
            # Most severe last, so they are drawn on top.
            for e in sorted(events, key=lambda e: e.severity)
            if e.lat is not None
        ]
    if dom in (None, "transport"):
        out["buses"] = [
            {
                "source": d.source,
                "lat": d.lat,
                "lon": d.lon,
                "name": d.name or d.source,
                "detail": _bus_detail(d.last_attrs or {}),
                "time": fmt_time(d.last_ts, tz),
            }
            for d in store.devices(province=prov, domain="transport")
            if is_vehicle_live(d, now) and (ward is None or d.ward == ward)
        ]
    else:
        out["buses"] = []
    if slow:
        out.update(_slow_layers(prov, ward, dom, lang, now))
    return out


def _bus_detail(attrs: dict[str, Any]) -> str:
    parts = [str(attrs[k]) for k in ("route", "vehicle") if attrs.get(k)]
    if attrs.get("speed_kmh") is not None:
        parts.append(f"{attrs['speed_kmh']:.0f} km/h")
    if attrs.get("occupancy") is not None and attrs.get("capacity"):
        parts.append(f"{attrs['occupancy']}/{attrs['capacity']}")
    return " · ".join(parts)


def _slow_layers(
    prov: str | None, ward: str | None, dom: str | None, lang: str, now: datetime
) -> dict[str, Any]:
    store = services().reads
    since = now - OPEN_WINDOW
    out: dict[str, Any] = {"cameras": [], "gaps": [], "outages": []}
    if dom in (None, "camera", "security"):
        out["cameras"] = [
            {
                "source": r.device.source,
                "lat": r.device.lat,
                "lon": r.device.lon,
                "name": r.device.name or r.device.source,
                "status": r.status,
                "status_text": t(f"cam.status.{r.status}", lang),
                "place": place_name(r.device.province, r.device.ward, r.device.lat, r.device.lon),
            }
            # Healthy first, so faults are drawn on top (and the legend swatch is opaque).
            for r in sorted(
                camera_rows(store, province=prov, ward=ward, now=now),
                key=lambda r: -STATUS_ORDER[r.status],
            )
            if r.device.lat is not None
        ]
    for layer, domain, opened, closed, key in (
        ("gaps", "network", "network.gap_opened", "network.gap_closed", "gap"),
        ("outages", "power", "power.outage_started", "power.outage_restored", "outage"),
    ):
        if dom not in (None, domain):
            continue
        events = store.find_events(province=prov, kinds=[opened, closed], since=since, limit=20000)
        out[layer] = [
            {
                "event_id": p.event_id,
                "lat": p.lat,
                "lon": p.lon,
                "village": p.village,
                "detail": p.detail,
            }
            for p in open_places(events, opened=opened, closed=closed, key=key)
            if p.lat is not None and (ward is None or p.ward == ward)
        ]
    return out


def map_part(
    prov: str | None, ward: str | None, dom: str | None, sev: int, lang: str, last: Any
) -> tuple[Any, Any]:
    """Full figure when the view changes; otherwise patch only the layers whose data moved.

    Layers, traces and the full figure (as plain dicts) are shared: built once per
    (view, data version, time bucket); the per-session part is choosing full or patch.
    """
    view = json.dumps([prov, ward, dom, sev, lang])
    newest = _newest(prov)
    force = int(time.time() // FORCE_REFRESH_S)
    slow_bucket = int(time.time() // SLOW_LAYERS_EVERY)
    last = last if isinstance(last, dict) else {}
    full = last.get("view") != view
    slow = full or last.get("slow") != slow_bucket
    if not slow and last.get("newest") == newest and last.get("force") == force:
        return KEEP, KEEP
    sig = {"view": view, "newest": newest, "force": force, "slow": slow_bucket}
    render = services().render
    key = (view, newest, force, slow_bucket)

    def data() -> MapData:
        fast = render.get(
            ("map-fast", view, newest, force),
            lambda: _map_layers(prov, ward, dom, sev, lang, slow=False),
        )
        slow_layers = render.get(
            ("map-slow", prov, ward, dom, lang, slow_bucket),
            lambda: _slow_layers(prov, ward, dom, lang, datetime.now(UTC)),
        )
        return MapData(province=prov, **fast, **slow_layers)

    if full:
        return render.get(("map-full", *key), lambda: _plain(live_map_figure(data(), lang))), sig
    # Stale while revalidate, as for the feed: the traces carry the signature they match.
    built_sig, fresh = render.get(
        ("map-traces", *key),
        lambda: (sig, _plain(map_trace_data(data(), lang))),
        view=("map-traces", view),
    )
    if built_sig == last:
        return KEEP, KEEP
    sig = built_sig
    slow = built_sig["slow"] != last.get("slow")
    names = MAP_TRACES if slow else ("incidents", "incident_areas", "buses")
    patch = Patch()
    for i, name in enumerate(MAP_TRACES):
        if name in names:
            for prop, value in fresh[i].items():
                patch["data"][i][prop] = value
    return patch, sig


@callback(
    Output("live-details", "children"),
    Input("live-map", "clickData"),
    Input("live-selected", "data"),
    prevent_initial_call=True,
)
@guard("live.view")
def show_details(user: User, click: Any, picked: Any) -> Any:
    """Details of a clicked map item or feed row, with a close button."""
    body = _details(user, click, picked)
    return html.Div(
        [
            html.Button(
                "×", id="details-close", className="close", title=t("common.close", current_lang())
            ),
            body,
        ]
    )


dash.clientside_callback(
    ClientsideFunction(namespace="ioc", function_name="clearOnClick"),
    Output("live-details", "children", allow_duplicate=True),
    Input("details-close", "n_clicks"),
    prevent_initial_call=True,
)


def _details(user: User, click: Any, picked: Any) -> Any:
    # Each object is checked against the user's scope before anything is shown.
    lang = current_lang()
    tz = services().settings.timezone
    store = services().store
    trigger = dash.ctx.triggered_id
    if trigger == "live-map":
        try:
            kind, key = click["points"][0]["customdata"][:2]
        except (TypeError, KeyError, IndexError, ValueError):
            raise PreventUpdate from None
    elif isinstance(picked, dict) and picked.get("id"):
        kind, key = "event", picked["id"]
    else:
        raise PreventUpdate
    key = str(key)
    if kind == "event":
        event = store.get_event(key)
        if event is None:
            raise PreventUpdate
        check_place(user, event.province, "event")
        return event_details(event, lang, tz)
    if kind == "device":
        device = store.get_device(key)
        if device is None:
            raise PreventUpdate
        check_place(user, device.province, "device")
        if not is_camera(device):
            return device_details(device, lang, tz)
        now = datetime.now(UTC)
        health = store.find_events(
            source=device.source, kinds=CAMERA_HEALTH_KINDS, since=now - OPEN_WINDOW, limit=2000
        )
        conds = open_conditions(health).get(device.source, [])
        snapshot = latest_snapshots(store, [device.source], now).get(device.source)
        return device_details(
            device,
            lang,
            tz,
            status=camera_status(device, conds, now),
            conditions=conds,
            snapshot=snapshot,
        )
    if kind == "ward":
        if not geography().is_commune(key):
            raise PreventUpdate
        province = geography().commune(key).province_code
        check_place(user, province, "ward")
        events = store.find_events(
            province=province,
            ward=key,
            exclude_kinds=TELEMETRY_KINDS,
            since=datetime.now(UTC) - INCIDENT_WINDOW,
            limit=12,
        )
        return ward_details(province, key, events, lang, tz)
    raise PreventUpdate


# --- alarm queue ------------------------------------------------------------------------


def _alarms(prov: str | None, show_resolved: bool) -> list[Any]:
    """Active (and recently resolved) alarms of a scope, shared for VERSION_MEMO_S."""

    def read() -> list[Any]:
        store = services().store
        found = store.alarms(province=prov, states=("open", "acknowledged"), limit=ALARM_LIMIT)
        if show_resolved:
            found += store.alarms(province=prov, states=("resolved",), limit=20)
        return found

    return services().memo.get(("alarms", prov, show_resolved), read, VERSION_MEMO_S)


def forget_alarms() -> None:
    """After an action here, the next tick of every session reads the alarms afresh."""
    services().memo.drop(lambda k: isinstance(k, tuple) and k[0] == "alarms")


def alarms_part(
    prov: str | None,
    ward: str | None,
    dom: str | None,
    show_resolved: bool,
    selected: Any,
    _version: Any,
    lang: str,
    last_sig: Any,
) -> tuple[Any, Any, Any]:
    """Active alarms (and optionally recently resolved ones) shared live between operators."""
    alarms = [
        a
        for a in _alarms(prov, show_resolved)
        if (ward is None or a.ward == ward) and (dom is None or a.kind.split(".", 1)[0] == dom)
    ]
    sel = selected.get("id") if isinstance(selected, dict) else None
    sig = json.dumps(
        [
            [a.id, a.state, a.event_count, a.assigned_to, a.severity, str(a.acknowledged_at)]
            for a in alarms
        ]
        + [sel, lang],
        default=str,
    )
    if sig == last_sig:
        return KEEP, KEEP, KEEP

    def build() -> tuple[Any, str]:
        now = datetime.now(UTC)
        tz = services().settings.timezone
        active = sum(1 for a in alarms if a.state != "resolved")
        return _plain(alarm_cards(alarms, lang, tz, now, _int(sel))), str(active)

    cards, count = services().render.get(("alarms", prov, ward, dom, sig), build, ttl=5.0)
    return cards, count, sig


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


dash.clientside_callback(
    ClientsideFunction(namespace="ioc", function_name="pick"),
    Output("alarm-selected", "data"),
    Input({"type": "alarm-card", "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)


dash.clientside_callback(
    ClientsideFunction(namespace="ioc", function_name="whenSelected"),
    Output("alarm-detail-tick", "data"),
    Input("tick", "n_intervals"),
    State("alarm-selected", "data"),
)


@callback(
    Output("alarm-summary", "children"),
    Output("alarm-log-box", "children"),
    Output("alarm-detail", "className"),
    Output("alarm-detail-sig", "data"),
    Input("alarm-selected", "data"),
    Input("alarm-detail-tick", "data"),
    Input("alarm-version", "data"),
    State("alarm-detail-sig", "data"),
)
@guard("live.view")
def update_alarm_detail(user: User, selected: Any, _n: Any, _v: Any, last_sig: Any) -> tuple:
    """The selected alarm and its log, per user (scope-checked); refreshed while selected."""
    alarm_id = _int(selected.get("id")) if isinstance(selected, dict) else None
    if alarm_id is None:
        raise PreventUpdate
    store = services().store
    alarm = visible_alarm(user, alarm_id)
    if alarm is None:
        raise PreventUpdate
    lang = current_lang()
    actions = store.alarm_actions(alarm_id)
    sig = json.dumps(
        [alarm_id, alarm.state, alarm.event_count, alarm.assigned_to, len(actions), lang],
        default=str,
    )
    if sig == last_sig:
        raise PreventUpdate
    tz = services().settings.timezone
    now = datetime.now(UTC)
    css = "alarm-detail" + (" resolved" if alarm.state == "resolved" else "")
    summary = alarm_summary(alarm, lang, tz, now)
    if can(user, "population.lookup"):
        # Open a population lookup from the incident, place and case prefilled (pages/lookup.py).
        query = f"?ward={alarm.ward}&alarm={alarm.id}" if alarm.ward else f"?alarm={alarm.id}"
        label = "Population lookup" if lang == "en" else "Tra cứu dân cư"
        link = dcc.Link(label, href=f"/lookup{query}", id="alarm-lookup-link", className="btn")
        summary = html.Div([summary, link])
    return summary, action_log(actions, lang, tz), css, sig


@callback(
    Output("alarm-message", "children"),
    Output("alarm-version", "data"),
    Output("alarm-assignee-input", "value"),
    Output("alarm-comment-input", "value"),
    Output("alarm-resolve-input", "value"),
    Input("alarm-ack", "n_clicks"),
    Input("alarm-assign", "n_clicks"),
    Input("alarm-comment", "n_clicks"),
    Input("alarm-resolve", "n_clicks"),
    State("alarm-selected", "data"),
    State("alarm-assignee-input", "value"),
    State("alarm-comment-input", "value"),
    State("alarm-resolve-input", "value"),
    State("alarm-version", "data"),
    prevent_initial_call=True,
)
@guard("alarms.act")
def act_on_alarm(
    user: User,
    _a: Any,
    _b: Any,
    _c: Any,
    _d: Any,
    selected: Any,
    assignee: Any,
    comment: Any,
    resolution: Any,
    version: Any,
) -> tuple:
    """Acknowledge, assign, comment or resolve; the store logs who and when."""
    lang = current_lang()
    keep = dash.no_update
    button = dash.ctx.triggered_id
    action = {
        "alarm-ack": "acknowledge",
        "alarm-assign": "assign",
        "alarm-comment": "comment",
        "alarm-resolve": "resolve",
    }.get(str(button))
    alarm_id = _int(selected.get("id")) if isinstance(selected, dict) else None
    if action is None or alarm_id is None:
        raise PreventUpdate
    store = services().store
    alarm = visible_alarm(user, alarm_id)
    if alarm is None:
        raise PreventUpdate
    assignee = (assignee or "").strip()[:100]
    comment = (comment or "").strip()[:2000]
    resolution = (resolution or "").strip()[:2000]
    if action == "assign" and not assignee:
        return t("alarms.need_assignee", lang), keep, keep, keep, keep
    if action == "comment" and not comment:
        return t("alarms.need_comment", lang), keep, keep, keep, keep
    if action == "resolve" and not resolution:
        return t("alarms.need_note", lang), keep, keep, keep, keep
    if action == "acknowledge" and alarm.state != "open":
        state = t(f"alarms.state.{alarm.state}", lang)
        return t("alarms.conflict", lang).format(state=state), keep, keep, keep, keep
    note = comment if action == "comment" else resolution if action == "resolve" else None
    try:
        store.alarm_action(
            alarm_id,
            actor=user.username,
            action=action,
            note=note,
            assigned_to=assignee if action == "assign" else None,
        )
    except (ValueError, KeyError):
        # Another operator got there first (e.g. acknowledged or resolved it meanwhile).
        forget_alarms()
        now_state = getattr(store.get_alarm(alarm_id), "state", "resolved")
        message = t("alarms.conflict", lang).format(state=t(f"alarms.state.{now_state}", lang))
        return message, (version or 0) + 1, keep, keep, keep
    forget_alarms()
    # store.alarm_action already wrote the one audit row, in the alarm's own transaction.
    # Clear only the field the action used; the others may hold text still being typed.
    cleared = {
        "assign": ("", keep, keep),
        "comment": (keep, "", keep),
        "resolve": (keep, keep, ""),
    }.get(action, (keep, keep, keep))
    return t("alarms.done", lang), (version or 0) + 1, *cleared


# --- ingest health ------------------------------------------------------------------------


@callback(
    Output("live-epm", "figure"),
    Output("live-deadletters", "children"),
    Output("live-workers", "children"),
    Input("live-slow", "n_intervals"),
    Input("live-province", "value"),
)
@guard("live.view")
def update_health(user: User, _n: Any, province: Any) -> tuple:
    """Events per minute by domain (in scope); dead letters and workers for ingest.view only."""
    prov = scope(user, province if province != ALL_VALUES else None)
    lang = current_lang()
    bucket = int(time.time() // HEALTH_EVERY_S)
    render = services().render

    def chart() -> Any:
        tz = services().settings.timezone
        now = datetime.now(UTC)
        rows = services().reads.events_per_minute(minutes=EPM_MINUTES, province=prov, now=now)
        fig = events_per_minute_figure(rows, now=now, minutes=EPM_MINUTES, tz=tz, lang=lang)
        return _plain(fig)

    fig = render.get(("epm", prov, lang, bucket), chart)
    # Dead letters and workers span every province: only for unscoped ingest.view roles.
    if not can(user, "ingest.view") or user.province is not None:
        return fig, None, None

    def ingest_health() -> tuple[Any, Any]:
        store = services().store
        tz = services().settings.timezone
        now = datetime.now(UTC)
        dead = dead_letter_summary(
            store.count_dead_letters(), store.dead_letters(limit=3), lang, tz
        )
        workers = workers_table(store.workers(stale_after=timedelta(minutes=10)), lang, tz, now)
        return _plain(dead), _plain(html.Div([html.H4(t("health.workers", lang)), workers]))

    dead, workers = render.get(("ingest-health", lang, bucket), ingest_health)
    return fig, dead, workers
