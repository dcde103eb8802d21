"""Review page: what changed between the last review and this one (villages covered, cameras
integrated, security and order incidents apart from traffic order violations).

Per-10,000-resident rates are shown only with their counts and the cameras integrated next to
them, over one denominator (the communes' population scale). Guarded and scoped like /programmes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboards.auth import current_lang, guard, page
from dashboards.components.programmes import review_places, summary
from dashboards.i18n import t
from dashboards.programme_data import (
    allowed_province,
    parse_day,
    province_options,
    review,
    today_local,
)
from dashboards.services import services
from ioc.store import User

dash.register_page(__name__, path="/review", title="IOC — Giao ban", order=4)

# Programmes are reviewed every few days (Notice 315/TB-VPCP).
DEFAULT_GAP_DAYS = 7
MAX_SPAN_DAYS = 800


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="field-label"), control], className="field")


def _date_input(cid: str, value: str) -> dcc.Input:
    return dcc.Input(
        id=cid,
        type="text",
        value=value,
        placeholder="YYYY-MM-DD",
        maxLength=10,
        debounce=True,
        className="input",
    )


@page("kpi.view")
def layout(user: User, lang: str, **_: Any) -> html.Div:
    """Two review days and a province; the changes between them."""
    options = province_options(user, lang)
    today = today_local()
    return html.Div(
        [
            html.H1(t("review.title", lang)),
            html.P(t("review.intro", lang), className="page-intro muted"),
            html.Div(
                [
                    _field(
                        t("prog.province", lang),
                        dcc.Dropdown(
                            id="review-province",
                            options=options,
                            value=options[0]["value"],
                            clearable=False,
                            className="dropdown",
                        ),
                    ),
                    _field(
                        t("review.from", lang),
                        _date_input(
                            "review-from", (today - timedelta(days=DEFAULT_GAP_DAYS)).isoformat()
                        ),
                    ),
                    _field(t("review.to", lang), _date_input("review-to", today.isoformat())),
                ],
                className="filter-bar",
            ),
            html.Div(id="review-message", className="form-message"),
            html.Div(id="review-summary"),
            html.H2(t("review.communes", lang)),
            html.Div(id="review-places"),
            html.P(t("review.denominator", lang), className="muted small"),
        ],
        id="review-page",
        className="review-page",
    )


@callback(
    Output("review-summary", "children"),
    Output("review-places", "children"),
    Output("review-message", "children"),
    Input("review-province", "value"),
    Input("review-from", "value"),
    Input("review-to", "value"),
)
@guard("kpi.view")
def update(user: User, province: Any, since: Any, until: Any) -> tuple[Any, Any, Any]:
    """The changes between the two days in the province (or nationally)."""
    lang = current_lang()
    code = allowed_province(user, province)
    first, last = parse_day(since), parse_day(until)
    if first is None or last is None or first > last or (last - first).days > MAX_SPAN_DAYS:
        return None, None, t("review.bad_dates", lang)
    r = review(services().store, code, first, last)
    return summary(r, lang), review_places(r, lang), ""
