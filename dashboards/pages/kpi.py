"""KPI map page for leaders: provinces or one province's communes coloured by a KPI, a ranking
table, the selected unit's trend against the previous period, and exports (CSV, PNG, report).

Every callback is guarded and narrows the province with `scope`: a leader scoped to a
province never sees another one, and the national view needs "kpi.national" and no scope.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dash
import flask
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    ctx,
    dcc,
    html,
    no_update,
)
from dash.exceptions import PreventUpdate
from werkzeug.sansio.utils import host_is_trusted

from dashboards.auth import current_lang, deny, guard, page, scope
from dashboards.components.kpi import detail_outputs, map_outputs
from dashboards.fmt import local_time
from dashboards.kpi_data import MapPayload, csv_text, detail_payload, map_payload
from dashboards.kpi_figures import kt
from dashboards.report import province_report_html
from dashboards.services import services
from ioc.auth import can
from ioc.geo import geography
from ioc.kpi import KPIS, WINDOW_KEYS, Window, make_window
from ioc.store import User

logger = logging.getLogger(__name__)

dash.register_page(__name__, path="/kpi", title="IOC — Chỉ số", order=2)

DEFAULT_KPI = "security_incidents"
DEFAULT_WINDOW = "7d"


def kpi_options(lang: str) -> list[dict[str, str]]:
    """Every KPI by name."""
    return [{"label": k.name(lang), "value": k.id} for k in KPIS.values()]


def parse_window(key: Any, start: Any, end: Any, now: datetime | None = None) -> Window | None:
    """The window the controls describe, or None for a bad custom period."""
    key = key if key in WINDOW_KEYS else DEFAULT_WINDOW
    try:
        if key == "custom":
            first = date.fromisoformat(str(start)[:10])
            last = date.fromisoformat(str(end)[:10])
            return make_window(key, now, start=first, end=last)
        return make_window(key, now)
    except (TypeError, ValueError):
        return None


def allowed_province(user: User, requested: Any) -> str | None:
    """The province the user may look at: theirs if scoped; None (national) needs kpi.national."""
    code = requested if isinstance(requested, str) and geography().is_province(requested) else None
    province = scope(user, code)
    if province is None and not can(user, "kpi.national"):
        raise deny(user, "kpi.national")
    return province


def allowed_ward(province: str | None, requested: Any) -> str | None:
    """A commune of the shown province, else none."""
    g = geography()
    if province is None or not isinstance(requested, str) or not g.is_commune(requested):
        return None
    return requested if g.commune(requested).province_code == province else None


def _field(label: str, control: Any, **kw: Any) -> html.Label:
    return html.Label([html.Span(label, className="field-label"), control], className="field", **kw)


@page("kpi.view")
def layout(
    user: User,
    lang: str,
    kpi: str | None = None,
    window: str | None = None,
    province: str | None = None,
    **_: Any,
) -> html.Div:
    """The page; ?kpi=&window=&province= open it on a given view."""
    kpi_id = kpi if kpi in KPIS else DEFAULT_KPI
    key = window if window in WINDOW_KEYS else DEFAULT_WINDOW
    if user.province is not None:
        prov = user.province
    elif province and geography().is_province(province):
        prov = geography().province(province).code
    elif can(user, "kpi.national"):
        prov = ""
    else:
        return html.Div(kt("kpi.no_data", lang), id="kpi-page")
    today = local_time(datetime.now(UTC), services().settings.timezone).date()
    controls = html.Div(
        [
            _field(
                kt("kpi.indicator", lang),
                dcc.Dropdown(
                    id="kpi-select",
                    options=kpi_options(lang),
                    value=kpi_id,
                    clearable=False,
                    className="dropdown kpi-dropdown",
                ),
            ),
            _field(
                kt("kpi.window", lang),
                dcc.RadioItems(
                    id="kpi-window",
                    options=[
                        {"label": kt(f"kpi.window.{w}", lang), "value": w} for w in WINDOW_KEYS
                    ],
                    value=key,
                    inline=True,
                    className="kpi-radio",
                ),
            ),
            _field(
                kt("kpi.period", lang),
                dcc.DatePickerRange(
                    id="kpi-range",
                    start_date=(today - timedelta(days=6)).isoformat(),
                    end_date=today.isoformat(),
                    max_date_allowed=today.isoformat(),
                    display_format="DD/MM/YYYY",
                    first_day_of_week=1,
                    minimum_nights=0,
                ),
                id="kpi-range-box",
                style={} if key == "custom" else {"display": "none"},
            ),
            dcc.Checklist(
                id="kpi-compare",
                options=[{"label": kt("kpi.compare", lang), "value": "yes"}],
                value=["yes"],
                className="checklist",
            ),
            html.Div(
                [
                    html.Button(kt("kpi.export_csv", lang), id="kpi-csv", className="btn"),
                    html.Button(kt("kpi.export_png", lang), id="kpi-png", className="btn"),
                    html.Button(kt("kpi.export_report", lang), id="kpi-report", className="btn"),
                ],
                className="kpi-exports",
            ),
        ],
        className="filter-bar kpi-controls",
    )
    return html.Div(
        [
            controls,
            html.Div(id="kpi-message", className="form-message"),
            html.Div(
                [
                    html.Section(
                        [
                            html.Div(
                                [
                                    html.Button(
                                        kt("kpi.back", lang),
                                        id="kpi-back",
                                        className="btn btn-ghost",
                                        style={"display": "none"},
                                    ),
                                    html.H2(id="kpi-heading"),
                                ],
                                className="kpi-map-head",
                            ),
                            dcc.Loading(
                                dcc.Graph(
                                    id="kpi-map",
                                    className="kpi-map",
                                    config={
                                        "displaylogo": False,
                                        "scrollZoom": True,
                                        "modeBarButtonsToRemove": ["select2d", "lasso2d"],
                                    },
                                ),
                                type="circle",
                                delay_show=400,
                            ),
                            html.P(kt("kpi.click_hint", lang), className="muted small"),
                            html.Div(id="kpi-legend", className="kpi-legend"),
                        ],
                        className="panel kpi-map-panel",
                    ),
                    html.Section(
                        [
                            html.Div(id="kpi-summary", className="kpi-summary"),
                            dcc.Graph(
                                id="kpi-trend",
                                className="kpi-trend",
                                config={"displayModeBar": False},
                            ),
                            html.Div(id="kpi-table", className="kpi-table"),
                        ],
                        className="panel kpi-side",
                    ),
                ],
                className="kpi-grid",
            ),
            dcc.Store(id="kpi-province", data=prov),
            dcc.Store(id="kpi-ward", data=""),
            dcc.Store(id="kpi-png-done"),
            dcc.Download(id="kpi-csv-download"),
            dcc.Download(id="kpi-report-download"),
        ],
        className="kpi-page",
        id="kpi-page",
    )


@callback(
    Output("kpi-range-box", "style"),
    Input("kpi-window", "value"),
    prevent_initial_call=True,
)
@guard("kpi.view")
def show_range(user: User, key: Any) -> dict[str, str]:
    """The date pickers only for a custom period."""
    return {} if key == "custom" else {"display": "none"}


@callback(
    Output("kpi-map", "figure"),
    Output("kpi-table", "children"),
    Output("kpi-legend", "children"),
    Output("kpi-heading", "children"),
    Output("kpi-back", "style"),
    Output("kpi-message", "children"),
    Input("kpi-select", "value"),
    Input("kpi-window", "value"),
    Input("kpi-range", "start_date"),
    Input("kpi-range", "end_date"),
    Input("kpi-compare", "value"),
    Input("kpi-province", "data"),
    State("kpi-ward", "data"),
)
@guard("kpi.view")
def update_map(
    user: User,
    kpi_id: Any,
    key: Any,
    start: Any,
    end: Any,
    compare: Any,
    province: Any,
    ward: Any,
) -> tuple[Any, ...]:
    """The map, ranking table and definition of the chosen KPI, period and place."""
    lang = current_lang()
    prov = allowed_province(user, province or None)
    window = parse_window(key, start, end)
    if window is None:
        return (no_update,) * 5 + (kt("kpi.bad_period", lang),)
    kpi_id = kpi_id if kpi_id in KPIS else DEFAULT_KPI
    payload = map_payload(services().store, kpi_id, window, prov, compare=bool(compare))
    tz = services().settings.timezone
    national = user.province is None and can(user, "kpi.national")
    outputs = map_outputs(
        payload, lang, tz, allowed_ward(prov, ward), national, base_url=geo_base_url()
    )
    return (*outputs, "")


def geo_base_url() -> str:
    """This server's origin for the GeoJSON layer URLs, only from a trusted Host header.

    The URLs must be absolute (MapLibre fetches in a web worker), but echoing any Host
    header would let a forged one point the map elsewhere; untrusted hosts get "".
    """
    host = flask.request.host
    if host_is_trusted(host, services().settings.trusted_hosts()):
        return flask.request.host_url
    logger.warning("untrusted Host header %r: GeoJSON URLs left relative", host[:100])
    return ""


@callback(
    Output("kpi-summary", "children"),
    Output("kpi-trend", "figure"),
    Input("kpi-select", "value"),
    Input("kpi-window", "value"),
    Input("kpi-range", "start_date"),
    Input("kpi-range", "end_date"),
    Input("kpi-compare", "value"),
    Input("kpi-province", "data"),
    Input("kpi-ward", "data"),
)
@guard("kpi.view")
def update_detail(
    user: User,
    kpi_id: Any,
    key: Any,
    start: Any,
    end: Any,
    compare: Any,
    province: Any,
    ward: Any,
) -> tuple[Any, Any]:
    """The selected unit (nation, province or commune): value, change and trend."""
    lang = current_lang()
    prov = allowed_province(user, province or None)
    window = parse_window(key, start, end)
    if window is None:
        raise PreventUpdate
    kpi_id = kpi_id if kpi_id in KPIS else DEFAULT_KPI
    d = detail_payload(
        services().store, kpi_id, window, prov, allowed_ward(prov, ward), compare=bool(compare)
    )
    return detail_outputs(d, lang, services().settings.timezone)


@callback(
    Output("kpi-province", "data"),
    Output("kpi-ward", "data"),
    Input("kpi-map", "clickData"),
    Input("kpi-back", "n_clicks"),
    Input({"type": "kpi-row", "code": ALL}, "n_clicks"),
    State("kpi-province", "data"),
    State("kpi-ward", "data"),
    prevent_initial_call=True,
)
@guard("kpi.view")
def select_place(
    user: User, click: Any, _back: Any, _rows: Any, province: Any, ward: Any
) -> tuple[Any, Any]:
    """Drill from a province to its communes, pick a commune, or go back to the nation."""
    trigger = ctx.triggered_id
    if trigger == "kpi-back":
        allowed_province(user, None)
        return "", ""
    if isinstance(trigger, dict):
        # Rows appear with n_clicks=0 whenever the table is rebuilt; only a click selects.
        if not ctx.triggered or not ctx.triggered[0].get("value"):
            raise PreventUpdate
        code = str(trigger.get("code"))
    elif trigger == "kpi-map" and click and click.get("points"):
        code = str(click["points"][0].get("location") or "")
    else:
        raise PreventUpdate
    current = allowed_province(user, province or None)
    g = geography()
    if g.is_province(code) and len(code) == 2:
        target = allowed_province(user, code)
        return (target or "", "") if target != current else (no_update, "")
    if current is not None and allowed_ward(current, code) == code:
        return no_update, ("" if code == ward else code)
    raise PreventUpdate


@callback(
    Output("kpi-map", "figure", allow_duplicate=True),
    Input("kpi-ward", "data"),
    prevent_initial_call=True,
)
@guard("kpi.view")
def highlight_ward(user: User, ward: Any) -> Patch:
    """Outline the selected commune without recomputing the map."""
    patch = Patch()
    code = ward if isinstance(ward, str) and geography().is_commune(ward) else None
    patch["data"][1]["locations"] = [code] if code else []
    patch["data"][1]["z"] = [1] if code else []
    return patch


def _export_payload(
    user: User, kpi_id: Any, key: Any, start: Any, end: Any, compare: Any, province: Any
) -> MapPayload:
    prov = allowed_province(user, province or None)
    window = parse_window(key, start, end)
    if window is None:
        raise PreventUpdate
    kpi_id = kpi_id if kpi_id in KPIS else DEFAULT_KPI
    return map_payload(services().store, kpi_id, window, prov, compare=bool(compare))


def _file_stamp(window: Window) -> str:
    tz = services().settings.timezone
    return f"{local_time(window.since, tz):%Y%m%d%H}-{local_time(window.until, tz):%Y%m%d%H}"


@callback(
    Output("kpi-csv-download", "data"),
    Input("kpi-csv", "n_clicks"),
    State("kpi-select", "value"),
    State("kpi-window", "value"),
    State("kpi-range", "start_date"),
    State("kpi-range", "end_date"),
    State("kpi-compare", "value"),
    State("kpi-province", "data"),
    prevent_initial_call=True,
)
@guard("kpi.view")
def export_csv(
    user: User, n: Any, kpi_id: Any, key: Any, start: Any, end: Any, compare: Any, province: Any
) -> dict[str, Any]:
    """The ranking table as a CSV file."""
    if not n:
        raise PreventUpdate
    payload = _export_payload(user, kpi_id, key, start, end, compare, province)
    place = payload.province or "vn"
    services().store.append_audit(
        user.username,
        "kpi_export",
        target=payload.kpi.id,
        details={"format": "csv", "province": place, "window": payload.window.key},
    )
    name = f"kpi-{payload.kpi.id}-{place}-{_file_stamp(payload.window)}.csv"
    return dcc.send_string(
        csv_text(payload, current_lang(), services().settings.timezone), name, type="text/csv"
    )


@callback(
    Output("kpi-report-download", "data"),
    Output("kpi-message", "children", allow_duplicate=True),
    Input("kpi-report", "n_clicks"),
    State("kpi-select", "value"),
    State("kpi-window", "value"),
    State("kpi-range", "start_date"),
    State("kpi-range", "end_date"),
    State("kpi-province", "data"),
    prevent_initial_call=True,
)
@guard("kpi.view")
def export_report(
    user: User, n: Any, kpi_id: Any, key: Any, start: Any, end: Any, province: Any
) -> tuple[Any, Any]:
    """The one-page HTML report of the shown province for the chosen period."""
    if not n:
        raise PreventUpdate
    lang = current_lang()
    prov = allowed_province(user, province or None)
    if prov is None:
        return no_update, kt("kpi.report_hint", lang)
    window = parse_window(key, start, end)
    if window is None:
        return no_update, kt("kpi.bad_period", lang)
    kpi_id = kpi_id if kpi_id in KPIS else DEFAULT_KPI
    svc = services()
    body = province_report_html(
        svc.store,
        prov,
        window,
        lang=lang,
        tz=svc.settings.timezone,
        map_kpi=kpi_id,
        national=can(user, "kpi.national") and user.province is None,
    )
    svc.store.append_audit(
        user.username,
        "kpi_export",
        target=kpi_id,
        details={"format": "html", "province": prov, "window": window.key},
    )
    name = f"bao-cao-{prov}-{_file_stamp(window)}.html"
    return dcc.send_string(body, name, type="text/html"), ""


dash.clientside_callback(
    ClientsideFunction(namespace="kpi", function_name="downloadPng"),
    Output("kpi-png-done", "data"),
    Input("kpi-png", "n_clicks"),
    State("kpi-map", "figure"),
    prevent_initial_call=True,
)
