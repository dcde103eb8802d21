"""Programme page for leaders: villages still without 4G or grid power and cameras still to
integrate, progress against the plan line, days to the deadline, projected completion at the
current rate, and the places furthest behind (CSV export).

Every callback is guarded and narrows the province with `scope`: a leader scoped to a
province never sees another one; the national view needs "kpi.national".
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboards.auth import current_lang, guard, page
from dashboards.components.programmes import camera_section, cards, places_table
from dashboards.i18n import t
from dashboards.programme_data import (
    allowed_province,
    parse_day,
    places_csv,
    programme_view,
    progress_figure,
    province_options,
    today_local,
)
from dashboards.services import services
from ioc.programmes import PROGRAMMES
from ioc.store import User

dash.register_page(__name__, path="/programmes", title="IOC — Chương trình", order=3)


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="field-label"), control], className="field")


@page("kpi.view")
def layout(
    user: User,
    lang: str,
    province: str | None = None,
    programme: str | None = None,
    **_: Any,
) -> html.Div:
    """Controls, figures, the chart against the plan, the places behind; ?programme=&province=."""
    options = province_options(user, lang)
    values = [o["value"] for o in options]
    chosen = province if province in values else values[0]
    return html.Div(
        [
            html.H1(t("prog.title", lang)),
            html.P(t("prog.intro", lang), className="page-intro muted"),
            html.Div(
                [
                    _field(
                        t("prog.programme", lang),
                        dcc.Dropdown(
                            id="prog-programme",
                            options=[
                                {"label": t(f"prog.{k}", lang), "value": k} for k in PROGRAMMES
                            ],
                            value=programme if programme in PROGRAMMES else "signal",
                            clearable=False,
                            className="dropdown",
                        ),
                    ),
                    _field(
                        t("prog.province", lang),
                        dcc.Dropdown(
                            id="prog-province",
                            options=options,
                            value=chosen,
                            clearable=False,
                            className="dropdown",
                        ),
                    ),
                    _field(
                        t("prog.on", lang),
                        dcc.Input(
                            id="prog-on",
                            type="text",
                            value=today_local().isoformat(),
                            placeholder="YYYY-MM-DD",
                            maxLength=10,
                            debounce=True,
                            className="input",
                        ),
                    ),
                    html.Button(t("prog.export", lang), id="prog-csv", className="btn"),
                ],
                className="filter-bar",
            ),
            html.Div(id="prog-message", className="form-message"),
            html.Div(id="prog-cards", className="prog-cards"),
            dcc.Graph(id="prog-chart", config={"displaylogo": False}),
            html.Div(id="prog-cameras"),
            html.H2(t("prog.behind", lang)),
            html.Div(id="prog-table"),
            dcc.Download(id="prog-download"),
        ],
        id="programmes-page",
        className="programmes-page",
    )


@callback(
    Output("prog-cards", "children"),
    Output("prog-chart", "figure"),
    Output("prog-table", "children"),
    Output("prog-cameras", "children"),
    Output("prog-message", "children"),
    Input("prog-programme", "value"),
    Input("prog-province", "value"),
    Input("prog-on", "value"),
)
@guard("kpi.view")
def update(user: User, programme: Any, province: Any, on: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Redraw the page for a programme, province and day."""
    lang = current_lang()
    code = allowed_province(user, province)
    day = parse_day(on)
    if programme not in PROGRAMMES or day is None:
        return no_update, no_update, no_update, no_update, t("kpi.bad_period", lang)
    view = programme_view(services().store, programme, code, day)
    message = t("prog.empty", lang) if view.progress.target == 0 else ""
    return (
        cards(view, lang),
        progress_figure(view, lang),
        places_table(view, lang),
        camera_section(view, lang),
        message,
    )


@callback(
    Output("prog-download", "data"),
    Input("prog-csv", "n_clicks"),
    State("prog-programme", "value"),
    State("prog-province", "value"),
    State("prog-on", "value"),
    prevent_initial_call=True,
)
@guard("kpi.view")
def export_csv(user: User, n: Any, programme: Any, province: Any, on: Any) -> Any:
    """Every place of the view as CSV; the export is audited."""
    if not n:
        raise PreventUpdate
    code = allowed_province(user, province)
    day = parse_day(on)
    if programme not in PROGRAMMES or day is None:
        return no_update
    view = programme_view(services().store, programme, code, day)
    services().store.append_audit(
        user.username,
        "programme_export",
        target=programme,
        details={"format": "csv", "province": code or "vn", "on": day.isoformat()},
    )
    name = f"programme-{programme}-{code or 'vn'}-{day.isoformat()}.csv"
    return dcc.send_string(places_csv(view), name, type="text/csv")
