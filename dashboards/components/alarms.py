"""Alarm queue cards, the selected alarm's summary and its action log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dash import dcc, html

from dashboards.components.feed import severity_chip
from dashboards.fmt import (
    SEVERITY_COLOURS,
    epoch_ms,
    fmt_age,
    fmt_datetime,
    fmt_duration,
    fmt_time,
    place_name,
)
from dashboards.i18n import kind_text, t
from ioc.alarms import ACK_SLA_S, RESOLVE_SLA_S, rule_named
from ioc.store import Alarm, AlarmAction


def alarm_title(alarm: Alarm, lang: str) -> str:
    """The rule's title in the UI language (the store keeps the Vietnamese one)."""
    if lang == "en":
        try:
            return rule_named(alarm.rule).title_en
        except KeyError:
            return alarm.title
    return alarm.title


def _timer(label: str, value: html.Span) -> html.Span:
    return html.Span([html.Span(label, className="timer-label"), value], className="timer")


def sla_timers(alarm: Alarm, lang: str, now: datetime) -> list[html.Span]:
    """Time open and time to acknowledge (a countdown until acked, then how long it took)."""
    opened = epoch_ms(alarm.opened_at)
    end = alarm.resolved_at
    open_for = html.Span(
        fmt_age(alarm.opened_at, end or now),
        className="timer-value",
        **{"data-since": str(opened)},
        **({"data-until": str(epoch_ms(end))} if end else {}),
    )
    timers = [_timer(t("alarms.open_for", lang), open_for)]
    ack_sla = ACK_SLA_S.get(alarm.severity, 3600)
    if alarm.acknowledged_at is None:
        due = alarm.opened_at.timestamp() + ack_sla
        left = due - now.timestamp()
        timers.append(
            _timer(
                t("alarms.ack_in", lang),
                html.Span(
                    fmt_duration(left) if left >= 0 else "+" + fmt_duration(-left),
                    className="timer-value due" + (" overdue" if left < 0 else ""),
                    **{"data-due": str(int(due * 1000))},
                ),
            )
        )
    else:
        took = max(0.0, (alarm.acknowledged_at - alarm.opened_at).total_seconds())
        timers.append(
            _timer(
                t("alarms.ack_took", lang),
                html.Span(
                    fmt_duration(took),
                    className="timer-value" + (" overdue" if took > ack_sla else " met"),
                ),
            )
        )
        if alarm.resolved_at is None:
            due = alarm.opened_at.timestamp() + RESOLVE_SLA_S.get(alarm.severity, 86400)
            left = due - now.timestamp()
            timers.append(
                _timer(
                    t("alarms.resolve_in", lang),
                    html.Span(
                        fmt_duration(left) if left >= 0 else "+" + fmt_duration(-left),
                        className="timer-value due" + (" overdue" if left < 0 else ""),
                        **{"data-due": str(int(due * 1000))},
                    ),
                )
            )
    return timers


def alarm_cards(
    alarms: Sequence[Alarm], lang: str, tz: str, now: datetime, selected: int | None
) -> list[html.Li] | html.P:
    """The queue: newest first, severity colour, place, state, assignee and SLA timers."""
    if not alarms:
        return html.P(t("alarms.empty", lang), className="empty")
    cards = []
    for a in alarms:
        cards.append(
            html.Li(
                [
                    html.Span(
                        className="sev-bar", style={"background": SEVERITY_COLOURS[a.severity]}
                    ),
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.Span(alarm_title(a, lang), className="alarm-title"),
                                    severity_chip(a.severity, lang),
                                    html.Span(
                                        t(f"alarms.state.{a.state}", lang),
                                        className=f"state state-{a.state}",
                                    ),
                                ],
                                className="alarm-line",
                            ),
                            html.Div(
                                [
                                    html.Span(
                                        place_name(a.province, a.ward), className="alarm-place"
                                    ),
                                    html.Span(
                                        f"{a.source} · {a.event_count} {t('alarms.events', lang)}",
                                        className="alarm-source",
                                    ),
                                ],
                                className="alarm-line sub",
                            ),
                            html.Div(
                                [
                                    *sla_timers(a, lang, now),
                                    html.Span(
                                        f"{t('alarms.assigned', lang)}: {a.assigned_to}"
                                        if a.assigned_to
                                        else t("alarms.unassigned", lang),
                                        className="alarm-assignee",
                                    ),
                                ],
                                className="alarm-line timers",
                            ),
                        ],
                        className="alarm-body",
                    ),
                ],
                className=f"alarm-card state-{a.state}" + (" selected" if a.id == selected else ""),
                id={"type": "alarm-card", "id": a.id},
                n_clicks=0,
                title=fmt_time(a.opened_at, tz, date=True),
                **{"data-alarm": str(a.id)},
            )
        )
    return cards


def alarm_summary(alarm: Alarm, lang: str, tz: str, now: datetime) -> html.Div:
    """Header of the selected alarm."""
    rows = [
        html.Div(
            [
                html.Span(alarm_title(alarm, lang), className="alarm-title big"),
                severity_chip(alarm.severity, lang),
                html.Span(
                    t(f"alarms.state.{alarm.state}", lang),
                    className=f"state state-{alarm.state}",
                    id="alarm-state",
                ),
            ],
            className="alarm-line",
        ),
        html.Div(
            [
                html.Span(place_name(alarm.province, alarm.ward), className="alarm-place"),
                html.Span(
                    f"{kind_text(alarm.kind, lang)} · {alarm.source}", className="alarm-source"
                ),
            ],
            className="alarm-line sub",
        ),
        html.Div(
            [
                html.Span(f"#{alarm.id} · {fmt_datetime(alarm.opened_at, tz)}", className="muted"),
                html.Span(f"{alarm.event_count} {t('alarms.events', lang)}", className="muted"),
                html.Span(
                    f"{t('alarms.assigned', lang)}: {alarm.assigned_to}"
                    if alarm.assigned_to
                    else t("alarms.unassigned", lang),
                    id="alarm-assignee",
                ),
            ],
            className="alarm-line sub",
        ),
        html.Div(sla_timers(alarm, lang, now), className="alarm-line timers"),
    ]
    if alarm.resolution:
        rows.append(
            html.Blockquote(alarm.resolution, className="resolution", id="alarm-resolution")
        )
    return html.Div(rows, className="alarm-summary", **{"data-alarm": str(alarm.id)})


def action_log(actions: Sequence[AlarmAction], lang: str, tz: str) -> html.Div:
    """Who did what and when, oldest first; notes shown as plain text."""
    items = []
    for a in actions:
        if a.action == "merged":
            continue  # repeats show as the event count; the log stays readable
        what = t(f"action.{a.action}", lang)
        if a.action == "assign" and a.assigned_to:
            what = f"{what} {a.assigned_to}"
        note = a.note if a.action in ("comment", "resolve") else None
        items.append(
            html.Li(
                [
                    html.Span(fmt_time(a.ts, tz, date=True), className="log-time"),
                    html.Span(a.actor, className="log-actor"),
                    html.Span(what, className="log-action"),
                    html.Span(note, className="log-note") if note else None,
                ],
                className=f"log-item log-{a.action}",
            )
        )
    return html.Div(
        [html.H4(t("alarms.log", lang)), html.Ol(items, className="action-log", id="alarm-log")]
    )


def action_form(lang: str, can_act: bool, assignees: Sequence[str] = ()) -> html.Div:
    """Acknowledge, assign, comment and resolve controls (inputs survive queue refreshes)."""
    if not can_act:
        return html.Div(
            html.P(t("alarms.no_permission", lang), className="muted"),
            id="alarm-form",
            className="alarm-form",
        )
    return html.Div(
        [
            html.Div(
                html.Button(
                    t("alarms.ack", lang), id="alarm-ack", className="btn btn-primary", n_clicks=0
                ),
                className="form-row",
            ),
            html.Div(
                [
                    dcc.Input(
                        id="alarm-assignee-input",
                        type="text",
                        list="alarm-assignees",
                        placeholder=t("alarms.assign_ph", lang),
                        maxLength=100,
                        className="input",
                        debounce=False,
                    ),
                    html.Datalist([html.Option(value=v) for v in assignees], id="alarm-assignees"),
                    html.Button(
                        t("alarms.assign", lang), id="alarm-assign", className="btn", n_clicks=0
                    ),
                ],
                className="form-row",
            ),
            html.Div(
                [
                    dcc.Textarea(
                        id="alarm-comment-input",
                        placeholder=t("alarms.comment_ph", lang),
                        maxLength=2000,
                        className="input textarea",
                    ),
                    html.Button(
                        t("alarms.comment", lang), id="alarm-comment", className="btn", n_clicks=0
                    ),
                ],
                className="form-row",
            ),
            html.Div(
                [
                    dcc.Textarea(
                        id="alarm-resolve-input",
                        placeholder=t("alarms.resolve_ph", lang),
                        maxLength=2000,
                        className="input textarea",
                    ),
                    html.Button(
                        t("alarms.resolve", lang),
                        id="alarm-resolve",
                        className="btn btn-danger",
                        n_clicks=0,
                    ),
                ],
                className="form-row",
            ),
            html.Div(id="alarm-message", className="form-message", role="status"),
        ],
        id="alarm-form",
        className="alarm-form",
    )
