"""Ingest health: dead letters and per-worker heartbeat, queue and lag."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dash import html

from dashboards.fmt import fmt_duration, fmt_time
from dashboards.i18n import t
from ioc.store import DeadLetter, WorkerHealth

STALL_S = 30


def workers_table(workers: Sequence[WorkerHealth], lang: str, tz: str, now: datetime) -> html.Div:
    """One row per recently seen worker; lag is how far its newest event trails the clock."""
    if not workers:
        return html.P(t("health.no_workers", lang), className="muted", id="workers-empty")
    head = html.Tr(
        [
            html.Th(x)
            for x in (
                "ID",
                t("health.heartbeat", lang),
                t("health.written", lang),
                t("health.queue", lang),
                t("health.lag", lang),
            )
        ]
    )
    rows = []
    for w in workers:
        beat = (now - w.heartbeat_at).total_seconds()
        lag = (w.heartbeat_at - w.last_event_ts).total_seconds() if w.last_event_ts else None
        rows.append(
            html.Tr(
                [
                    html.Td(w.worker_id, className="mono"),
                    html.Td(f"{fmt_duration(beat)}", className="bad" if beat > STALL_S else "good"),
                    html.Td(f"{w.written:,}".replace(",", ".")),
                    html.Td(str(w.queue_depth), className="bad" if w.queue_depth > 5000 else ""),
                    html.Td(
                        fmt_duration(lag) if lag is not None else "—",
                        className="bad" if lag is not None and lag > 10 else "",
                    ),
                ],
                title=f"{fmt_time(w.heartbeat_at, tz, date=True)}",
            )
        )
    return html.Table(
        [html.Thead(head), html.Tbody(rows)], className="table compact", id="workers-table"
    )


def dead_letter_summary(count: int, latest: Sequence[DeadLetter], lang: str, tz: str) -> html.Div:
    """Dead-letter count and the newest reasons (as text)."""
    items = [
        html.Li(
            [
                html.Span(fmt_time(d.received_at, tz), className="log-time"),
                html.Span(d.reason, className="log-note"),
            ],
        )
        for d in latest
    ]
    return html.Div(
        [
            html.Div(
                [
                    html.Span(t("health.dead_letters", lang), className="field-label"),
                    html.Span(
                        f"{count:,}".replace(",", "."),
                        className="big-number" + (" bad" if count else ""),
                        id="dead-letter-count",
                    ),
                ],
                className="stat",
            ),
            html.Ul(items, className="mini-list") if items else None,
        ]
    )
