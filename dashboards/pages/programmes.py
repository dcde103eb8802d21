"""Programme page for leaders: villages still without 4G or grid power and cameras still to
integrate, progress against the plan line, days to the deadline, projected completion at the
current rate, and the places furthest behind (CSV export).

Every callback is guarded and narrows the province with `scope`: a leader scoped to a
province never sees another one; the national view needs "kpi.national".
"""

from __future__ import annotations

from datetime import date
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboards.auth import current_lang, guard, page
from dashboards.i18n import t
from dashboards.programme_data import (
    BEHIND_ROWS,
    ProgrammeView,
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
def layout(user: User, lang: str, province: str | None = None, **_: Any) -> html.Div:
    """Controls, the headline figures, the chart against the plan, and the places behind."""
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
                            value="signal",
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


def _card(label: str, value: str, hint: str = "", cid: str = "") -> html.Div:
    return html.Div(
        [
            html.Div(label, className="muted small"),
            html.Div(value, className="prog-card-value"),
            html.Div(hint, className="muted small"),
        ],
        className="prog-card",
        id=cid,
    )


def _num(n: float, lang: str) -> str:
    text = f"{n:,.0f}"
    return text.replace(",", ".") if lang == "vi" else text


def _day(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def cards(view: ProgrammeView, lang: str) -> list[html.Div]:
    """Target, done, remaining against the plan, deadline and projection."""
    p = view.progress
    deadline = PROGRAMMES[view.programme].deadline
    days = (
        t("prog.days_left", lang).format(days=p.days_to_deadline)
        if p.days_to_deadline >= 0
        else t("prog.overdue", lang).format(days=-p.days_to_deadline)
    )
    if p.finished is not None:
        projected = t("prog.finished", lang).format(day=_day(p.finished))
    elif p.projected_completion is not None:
        projected = _day(p.projected_completion)
    else:
        projected = "—"
    rate = f"{p.rate_per_day:.1f}".replace(".", "," if lang == "vi" else ".")
    rate_text = t("prog.rate", lang).format(rate=rate)
    if p.projected_completion is None and p.finished is None:
        rate_text = f"{t('prog.never', lang)}. {rate_text}"
    return [
        _card(t("prog.target", lang), _num(p.target, lang), cid="prog-target"),
        _card(t("prog.done", lang), _num(p.done, lang), f"{p.share:.0%}", cid="prog-done"),
        _card(
            t("prog.remaining", lang),
            _num(p.remaining, lang),
            f"{t('prog.planned', lang)}: {_num(round(p.planned_share * p.target), lang)}",
            cid="prog-remaining",
        ),
        _card(t("prog.deadline", lang), _day(deadline), days, cid="prog-deadline"),
        _card(
            t("prog.projected", lang),
            projected,
            rate_text,
            cid="prog-projected",
        ),
    ]


def places_table(view: ProgrammeView, lang: str) -> html.Table:
    """The places furthest behind."""
    head = [t("prog.place", lang), t("prog.target", lang), t("prog.done", lang),
            t("prog.remaining", lang), t("prog.share", lang)]  # fmt: skip
    if view.programme != "cameras":
        head.append(t("prog.households_left", lang))
    rows = []
    for p in view.places[:BEHIND_ROWS]:
        cells = [p.name, _num(p.target, lang), _num(p.done, lang), _num(p.remaining, lang),
                 f"{p.share:.0%}"]  # fmt: skip
        if view.programme != "cameras":
            cells.append(_num(p.households_left or 0, lang))
        rows.append(html.Tr([html.Td(c) for c in cells], **{"data-code": p.code}))
    return html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
        className="table",
        id="prog-places",
    )


def camera_section(view: ProgrammeView, lang: str) -> html.Div | None:
    """Planned versus integrated by owner and by vendor, and coverage."""
    if view.programme != "cameras":
        return None

    def table(title: str, items: dict[str, tuple[int, int]], label) -> html.Div:
        rows = [
            html.Tr([html.Td(label(k)), html.Td(_num(a, lang)), html.Td(_num(b, lang))])
            for k, (a, b) in sorted(items.items(), key=lambda kv: -kv[1][0])
        ]
        head = [title, t("prog.planned_cameras", lang), t("prog.integrated", lang)]
        return html.Table(
            [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)], className="table"
        )

    return html.Div(
        [
            html.P(t("prog.coverage", lang).format(**view.coverage), id="prog-coverage"),
            html.Div(
                [
                    table(
                        t("prog.by_owner", lang),
                        view.by_owner,
                        lambda k: t(f"prog.owner.{k}", lang),
                    ),
                    table(t("prog.by_vendor", lang), view.by_vendor, lambda k: k),
                ],
                className="prog-camera-tables",
            ),
        ]
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
