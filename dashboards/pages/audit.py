"""Audit log page (admin): filter the append-only trail and export it as CSV; exports are audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboards.auth import current_lang, guard, page
from dashboards.fmt import fmt_datetime, zone
from dashboards.i18n import t
from dashboards.services import services
from ioc.store import AuditEntry, User

dash.register_page(__name__, path="/audit", title="IOC — Nhật ký truy vết", order=90)

PERMISSION = "audit.view"
ALL = "all"
DEFAULT_LIMIT = 200
LIMITS = (50, 200, 1000, 5000)
MAX_FILTER_TEXT = 64
# Shown in the table; the CSV always carries the whole record.
MAX_DETAILS_SHOWN = 400
# Actions the product writes (the store accepts any; these are the ones to filter by).
KNOWN_ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "access_denied",
    "lookup",
    "lookup_refused",
    "lookup_failed",
    "alarm_acknowledge",
    "alarm_assign",
    "alarm_comment",
    "alarm_resolve",
    "user_add",
    "user_disable",
    "user_enable",
    "user_passwd",
    "audit_export",
)
# Spreadsheet programs run cells starting with these as formulas (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def tx(key: str, lang: str) -> str:
    """Page text in the session's language, from the one catalog in dashboards.i18n."""
    return t("audit." + key, lang)


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="field-label"), control], className="field")


def _text(input_id: str, max_length: int, **kw: Any) -> dcc.Input:
    """A filter text box, read when the user leaves it or presses Enter."""
    return dcc.Input(
        id=input_id, type="text", maxLength=max_length, className="input", debounce=True, **kw
    )


def _choice(dropdown_id: str, options: list[dict[str, Any]], value: Any) -> dcc.Dropdown:
    """A filter dropdown that always has a value."""
    return dcc.Dropdown(
        id=dropdown_id, options=options, value=value, clearable=False, className="dropdown"
    )


@page(PERMISSION)
def layout(user: User, lang: str, **_: Any) -> html.Div:
    """Filters, the newest records, and an export button."""
    actions = [{"label": tx("all", lang), "value": ALL}] + [
        {"label": a, "value": a} for a in KNOWN_ACTIONS
    ]
    return html.Div(
        [
            html.H1(tx("title", lang)),
            html.P(tx("notice", lang), className="page-intro muted"),
            html.Div(
                [
                    _field(
                        tx("actor", lang),
                        _text("audit-actor", MAX_FILTER_TEXT),
                    ),
                    _field(
                        tx("action", lang),
                        _choice("audit-action", actions, ALL),
                    ),
                    _field(
                        tx("since", lang),
                        _text("audit-since", 10, placeholder="YYYY-MM-DD"),
                    ),
                    _field(
                        tx("limit", lang),
                        _choice(
                            "audit-limit",
                            [{"label": str(n), "value": n} for n in LIMITS],
                            DEFAULT_LIMIT,
                        ),
                    ),
                    html.Button(
                        tx("filter", lang),
                        id="audit-filter",
                        n_clicks=0,
                        className="btn btn-primary",
                    ),
                    html.Button(tx("export", lang), id="audit-export", n_clicks=0, className="btn"),
                ],
                className="filter-bar",
            ),
            html.Div(id="audit-message"),
            html.Div(id="audit-table-box"),
            dcc.Download(id="audit-download"),
        ],
        className="audit-page",
        id="audit-page",
    )


def parse_filters(
    actor: Any, action: Any, since: Any, limit: Any, tz: str
) -> tuple[dict[str, Any], bool]:
    """Store filter arguments from raw inputs, and whether the date had to be ignored."""
    actor_f = actor.strip()[:MAX_FILTER_TEXT] if isinstance(actor, str) and actor.strip() else None
    action_f = action if isinstance(action, str) and action and action != ALL else None
    if isinstance(action_f, str):
        action_f = action_f[:MAX_FILTER_TEXT]
    since_f = None
    bad_date = False
    if isinstance(since, str) and since.strip():
        try:
            day = date.fromisoformat(since.strip())
            # A day starts at midnight where the IOC is, not in UTC.
            since_f = datetime.combine(day, time(0), tzinfo=zone(tz)).astimezone(UTC)
        except ValueError:
            bad_date = True
    try:
        n = int(limit)
    except (TypeError, ValueError):
        n = DEFAULT_LIMIT
    n = n if n in LIMITS else DEFAULT_LIMIT
    return {"actor": actor_f, "action": action_f, "since": since_f, "limit": n}, bad_date


def details_text(entry: AuditEntry) -> str:
    """The details object as compact JSON text."""
    return json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str)


@callback(
    Output("audit-table-box", "children"),
    Output("audit-message", "children"),
    Input("audit-filter", "n_clicks"),
    Input("audit-actor", "value"),
    Input("audit-action", "value"),
    Input("audit-since", "value"),
    Input("audit-limit", "value"),
)
@guard(PERMISSION)
def audit_table(
    user: User, _clicks: Any, actor: Any, action: Any, since: Any, limit: Any
) -> tuple[Any, Any]:
    """The filtered records, newest first, every value shown as text."""
    lang = current_lang()
    tz = services().settings.timezone
    filters, bad_date = parse_filters(actor, action, since, limit, tz)
    # A province-scoped admin reads only rows about that province, never the national trail.
    entries = services().store.audit_entries(**filters, province=user.province)
    message = html.P(tx("bad_date", lang), className="form-error") if bad_date else None
    if not entries:
        return html.P(tx("empty", lang), className="muted", id="audit-empty"), message
    head = html.Tr(
        [
            html.Th(tx(f"col.{c}", lang))
            for c in ("id", "ts", "actor", "action", "target", "province", "details")
        ]
    )
    rows = []
    for e in entries:
        details = details_text(e)
        shown = details if len(details) <= MAX_DETAILS_SHOWN else details[:MAX_DETAILS_SHOWN] + "…"
        rows.append(
            html.Tr(
                [
                    html.Td(str(e.id), className="mono"),
                    html.Td(fmt_datetime(e.ts, tz), className="mono"),
                    html.Td(e.actor, className="audit-actor"),
                    html.Td(e.action, className="audit-action"),
                    html.Td(e.target or "", className="mono audit-target"),
                    html.Td(e.province or tx("national", lang), className="audit-province"),
                    html.Td(shown, className="mono audit-details", title=details),
                ],
                id={"type": "audit-row", "id": e.id},
            )
        )
    table = html.Div(
        [
            html.P(
                f"{len(entries)} {tx('count', lang)}", className="muted small", id="audit-count"
            ),
            html.Table(
                [html.Thead(head), html.Tbody(rows)],
                className="table audit-table",
                id="audit-table",
            ),
        ],
        className="panel",
    )
    return table, message


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def audit_csv(entries: list[AuditEntry], tz: str) -> str:
    """CSV of the records; cells that a spreadsheet would run as formulas are quoted with '."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ["id", "ts_utc", "ts_local", "actor", "action", "target", "province", "details"]
    )
    for e in entries:
        writer.writerow(
            [
                e.id,
                e.ts.astimezone(UTC).isoformat(),
                fmt_datetime(e.ts, tz),
                _cell(e.actor),
                _cell(e.action),
                _cell(e.target),
                e.province or "",
                _cell(details_text(e)),
            ]
        )
    return buf.getvalue()


@callback(
    Output("audit-download", "data"),
    Input("audit-export", "n_clicks"),
    State("audit-actor", "value"),
    State("audit-action", "value"),
    State("audit-since", "value"),
    State("audit-limit", "value"),
    prevent_initial_call=True,
)
@guard(PERMISSION)
def export_audit(
    user: User, clicks: Any, actor: Any, action: Any, since: Any, limit: Any
) -> dict[str, Any]:
    """The filtered records as CSV; the export is itself audited before the file leaves."""
    if not clicks:
        raise dash.exceptions.PreventUpdate
    tz = services().settings.timezone
    filters, _bad = parse_filters(actor, action, since, limit, tz)
    store = services().store
    entries = store.audit_entries(**filters, province=user.province)
    logged = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items()}
    store.append_audit(
        user.username,
        "audit_export",
        details={"filters": logged, "rows": len(entries)},
        province=user.province,
    )
    stamp = datetime.now(UTC).astimezone(zone(tz)).strftime("%Y%m%d-%H%M%S")
    return dcc.send_string(audit_csv(entries, tz), f"ioc-audit-{stamp}.csv", type="text/csv")
