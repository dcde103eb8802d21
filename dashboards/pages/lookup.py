"""Population lookup page: a purpose, a case number, one person at a time, every lookup audited.

All checks, masking and the audit row happen in ioc.population.LookupService; this page
only collects input and shows what the service returns (already masked for the role).
An incident links here with the place prefilled: /lookup?ward=25084&alarm=42.
"""

from __future__ import annotations

import threading
from typing import Any

import dash
import flask
from dash import Input, Output, State, callback, dcc, html

from dashboards.auth import current_lang, guard, page, scope
from dashboards.i18n import t
from dashboards.services import services
from ioc.geo import geography
from ioc.geo.names import vi_sort_key
from ioc.population import (
    PURPOSES,
    LookupFailed,
    LookupRefused,
    LookupService,
    PersonView,
    open_directory,
)
from ioc.store import User

dash.register_page(__name__, path="/lookup", title="IOC — Tra cứu dân cư", order=5)

PERMISSION = "population.lookup"
# Key of the app's LookupService in flask's app.extensions (tests put their own there).
EXTENSION = "ioc_population"
_lock = threading.Lock()


def tx(key: str, lang: str) -> str:
    """Page text in the session's language, from the one catalog in dashboards.i18n."""
    return t("lookup." + key, lang)


def lookup_service() -> LookupService:
    """The app's lookup service: the shared store and the configured directory."""
    app = flask.current_app
    found = app.extensions.get(EXTENSION)
    if found is None:
        with _lock:
            found = app.extensions.get(EXTENSION)
            if found is None:
                svc = services()
                found = LookupService(svc.store, open_directory(svc.settings))
                app.extensions[EXTENSION] = found
    return found


def purpose_options(lang: str) -> list[dict[str, str]]:
    """Purposes in words, the code as value."""
    return [
        {"label": labels[lang if lang == "en" else "vi"], "value": code}
        for code, labels in PURPOSES.items()
    ]


def province_options(user: User) -> list[dict[str, str]]:
    """Provinces the user may search in: only their own when scoped."""
    geo = geography()
    codes = [user.province] if user.province else list(geo.provinces)
    provinces = sorted((geo.provinces[c] for c in codes), key=lambda p: vi_sort_key(p.short_name))
    return [{"label": p.short_name, "value": p.code} for p in provinces]


def commune_options(province: str | None) -> list[dict[str, str]]:
    """Communes of one province."""
    if not province or not geography().is_province(province):
        return []
    return [{"label": c.name, "value": c.code} for c in geography().communes_of(province)]


def _prefill(user: User, ward: Any, alarm: Any) -> tuple[str | None, str | None, str]:
    """(province, commune, case) from the query string, kept only if valid and in scope."""
    geo = geography()
    commune = ward if isinstance(ward, str) and ward.isdigit() and geo.is_commune(ward) else None
    case = ""
    if isinstance(alarm, str) and alarm.isdigit() and len(alarm) < 19:
        found = services().store.get_alarm(int(alarm))
        # An alarm of another province is ignored silently: the link must not reveal it.
        if found is not None and user.province in (None, found.province):
            case = f"IOC-{found.id}"
            commune = commune or found.ward
    if commune is not None:
        commune = geo.commune(commune).code
        if user.province is not None and geo.commune(commune).province_code != user.province:
            commune = None
    province = user.province or (geo.commune(commune).province_code if commune else None)
    return province, commune, case


def _field(label: str, control: Any, **kwargs: Any) -> html.Label:
    return html.Label(
        [html.Span(label, className="field-label"), control], className="field", **kwargs
    )


def _group(label: str, control: Any) -> html.Div:
    # Radio items render their own <label>s, which must not nest inside another label.
    return html.Div(
        [html.Span(label, className="field-label"), control], className="field", role="group"
    )


@page(PERMISSION)
def layout(
    user: User,
    lang: str,
    ward: str | None = None,
    commune: str | None = None,
    alarm: str | None = None,
    **_: Any,
) -> html.Div:
    """The lookup form; ?ward= (or ?commune=) and ?alarm= prefill place and case number."""
    province, ward_code, case = _prefill(user, ward or commune, alarm)
    remaining = lookup_service().remaining(user)
    mode = "name" if ward_code else "id"
    return html.Div(
        [
            html.H1(tx("title", lang)),
            html.P(tx("notice", lang), className="page-intro muted", id="lookup-notice"),
            html.Div(
                [tx("from_alarm", lang), f" #{alarm}"], className="muted", id="lookup-from-alarm"
            )
            if case
            else None,
            html.Div(
                [
                    _group(
                        tx("purpose", lang),
                        # Four purposes, all visible: choosing one is a deliberate act.
                        dcc.RadioItems(
                            id="lookup-purpose",
                            options=purpose_options(lang),
                            value=None,
                            className="radio radio-stacked",
                        ),
                    ),
                    _field(
                        tx("case", lang),
                        dcc.Input(
                            id="lookup-case",
                            type="text",
                            value=case,
                            maxLength=64,
                            placeholder=tx("case_ph", lang),
                            className="input",
                            autoComplete="off",
                        ),
                    ),
                    _group(
                        tx("mode", lang),
                        dcc.RadioItems(
                            id="lookup-mode",
                            options=[
                                {"label": tx("mode.id", lang), "value": "id"},
                                {"label": tx("mode.name", lang), "value": "name"},
                            ],
                            value=mode,
                            className="radio",
                        ),
                    ),
                    html.Div(
                        _field(
                            tx("id", lang),
                            dcc.Input(
                                id="lookup-id",
                                type="text",
                                maxLength=14,
                                inputMode="numeric",
                                className="input",
                                autoComplete="off",
                            ),
                        ),
                        id="lookup-by-id",
                        className="field-group",
                        hidden=mode != "id",
                    ),
                    html.Div(
                        [
                            _field(
                                tx("province", lang),
                                dcc.Dropdown(
                                    id="lookup-province",
                                    options=province_options(user),
                                    value=province,
                                    clearable=False,
                                    disabled=user.province is not None,
                                    className="dropdown",
                                ),
                            ),
                            _field(
                                tx("commune", lang),
                                dcc.Dropdown(
                                    id="lookup-commune",
                                    options=commune_options(province),
                                    value=ward_code,
                                    placeholder=tx("commune_ph", lang),
                                    className="dropdown dropdown-wide",
                                ),
                            ),
                            _field(
                                tx("name", lang),
                                dcc.Input(
                                    id="lookup-name",
                                    type="text",
                                    maxLength=80,
                                    className="input",
                                    autoComplete="off",
                                ),
                            ),
                            _field(
                                tx("year", lang),
                                dcc.Input(
                                    id="lookup-year",
                                    type="number",
                                    min=1900,
                                    max=2100,
                                    className="input input-narrow",
                                ),
                            ),
                        ],
                        id="lookup-by-name",
                        className="field-group",
                        hidden=mode != "name",
                    ),
                    html.Div(
                        [
                            html.Button(
                                tx("submit", lang),
                                id="lookup-submit",
                                n_clicks=0,
                                className="btn btn-primary",
                            ),
                            html.Span(
                                [
                                    tx("remaining", lang),
                                    ": ",
                                    html.Span(str(remaining), id="lookup-remaining"),
                                ],
                                className="muted small",
                            ),
                        ],
                        className="lookup-actions",
                    ),
                ],
                className="panel lookup-form",
            ),
            html.Div(id="lookup-message", role="status"),
            html.Div(id="lookup-results"),
        ],
        className="lookup-page",
        id="lookup-page",
    )


@callback(
    Output("lookup-by-id", "hidden"),
    Output("lookup-by-name", "hidden"),
    Input("lookup-mode", "value"),
    prevent_initial_call=True,
)
@guard(PERMISSION)
def switch_mode(user: User, mode: Any) -> tuple[bool, bool]:
    """Show the ID field or the name fields."""
    return mode == "name", mode != "name"


@callback(
    Output("lookup-commune", "options"),
    Output("lookup-commune", "value"),
    Input("lookup-province", "value"),
    prevent_initial_call=True,
)
@guard(PERMISSION)
def communes_for_province(user: User, province: Any) -> tuple[list[dict[str, str]], None]:
    """Commune choices follow the province; a scoped user asking for another is refused."""
    if not isinstance(province, str):
        return [], None
    return commune_options(scope(user, province)), None


@callback(
    Output("lookup-message", "children"),
    Output("lookup-results", "children"),
    Output("lookup-remaining", "children"),
    Input("lookup-submit", "n_clicks"),
    State("lookup-purpose", "value"),
    State("lookup-case", "value"),
    State("lookup-mode", "value"),
    State("lookup-id", "value"),
    State("lookup-commune", "value"),
    State("lookup-name", "value"),
    State("lookup-year", "value"),
    prevent_initial_call=True,
)
@guard(PERMISSION)
def run_lookup(
    user: User,
    _clicks: Any,
    purpose: Any,
    case_number: Any,
    mode: Any,
    national_id: Any,
    commune: Any,
    full_name: Any,
    birth_year: Any,
) -> tuple[Any, Any, str]:
    """One lookup through the service; the browser only ever receives masked views."""
    lang = current_lang()
    service = lookup_service()
    query: dict[str, Any] = (
        {"commune": commune, "full_name": full_name, "birth_year": birth_year}
        if mode == "name"
        else {"national_id": national_id}
    )
    try:
        outcome = service.lookup(
            user,
            purpose=purpose,
            case_number=case_number,
            source=flask.request.remote_addr or "",
            **query,
        )
    except LookupRefused as refused:
        message = html.P(
            tx(f"refused.{refused.reason}", lang),
            className="form-error",
            id="lookup-refused",
            role="alert",
        )
        return message, None, str(service.remaining(user))
    except LookupFailed:
        message = html.P(
            tx("failed", lang), className="form-error", id="lookup-failed", role="alert"
        )
        return message, None, str(service.remaining(user))
    notes = [html.Span(f"{tx('audit_ref', lang)} #{outcome.audit_id}", id="lookup-audit-id")]
    if outcome.results and outcome.results[0].masked:
        notes.append(html.Span(" · " + tx("masked", lang)))
    if outcome.truncated:
        notes.append(html.Span(" · " + tx("truncated", lang)))
    message = html.P(notes, className="muted small")
    return message, results_table(outcome.results, lang), str(service.remaining(user))


def results_table(results: tuple[PersonView, ...], lang: str) -> html.Div:
    """People found, as text cells (never HTML), without any export control."""
    if not results:
        return html.Div(html.P(tx("none", lang), className="muted"), id="lookup-none")
    head = html.Tr(
        [
            html.Th(tx(f"col.{c}", lang))
            for c in ("id", "name", "sex", "birth", "place", "household")
        ]
    )
    rows = [
        html.Tr(
            [
                html.Td(v.national_id, className="mono lookup-id"),
                html.Td(v.full_name, className="lookup-name"),
                html.Td(tx(f"sex.{v.sex}", lang)),
                html.Td(v.birth, className="lookup-birth"),
                html.Td(v.commune_name),
                html.Td(str(v.household_size)),
            ]
        )
        for v in results
    ]
    return html.Div(
        [
            html.H2(tx("found", lang)),
            html.Table(
                [html.Thead(head), html.Tbody(rows)],
                className="table lookup-table",
                id="lookup-table",
            ),
        ],
        className="panel",
    )
