"""Incident feed rows and severity chips."""

from __future__ import annotations

from collections.abc import Sequence

from dash import html

from dashboards.fmt import SEVERITY_COLOURS, fmt_time, place_name
from dashboards.i18n import kind_text, severity_text, t
from ioc.events import Event


def severity_chip(severity: int, lang: str) -> html.Span:
    """A coloured severity label."""
    return html.Span(
        severity_text(severity, lang),
        className=f"chip sev-{int(severity)}",
        style={"--sev": SEVERITY_COLOURS.get(int(severity), "#7f8ea3")},
    )


def _detail(event: Event) -> str:
    """The most telling attribute in words (a village, a vehicle, a zone...), not the source."""
    a = event.attrs
    for key in (
        "village",
        "vehicle",
        "zone",
        "plate",
        "violation",
        "detection",
        "cell",
        "metric",
        "probe",
        "camera",
    ):
        value = a.get(key)
        if isinstance(value, str) and value and value != event.source:
            return value
    return ""


def event_title(event: Event, lang: str) -> str:
    """The kind in words; a condition that closed says so ("... (đã hết)")."""
    text = kind_text(event.kind, lang)
    if event.attrs.get("state") == "closed":
        text += " (cleared)" if lang == "en" else " (đã hết)"
    return text


def feed_rows(events: Sequence[Event], lang: str, tz: str) -> list[html.Li] | html.P:
    """Newest-first rows: time, kind in words, place, source; the id is kept for clicks."""
    if not events:
        return html.P(t("feed.empty", lang), className="empty")
    rows = []
    for e in events:
        detail = _detail(e)
        rows.append(
            html.Li(
                [
                    html.Span(
                        className="sev-bar", style={"background": SEVERITY_COLOURS[e.severity]}
                    ),
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.Span(
                                        fmt_time(e.ts, tz),
                                        className="feed-time",
                                        title=fmt_time(e.ts, tz, date=True),
                                    ),
                                    html.Span(event_title(e, lang), className="feed-kind"),
                                    severity_chip(e.severity, lang),
                                ],
                                className="feed-line",
                            ),
                            html.Div(
                                [
                                    html.Span(
                                        place_name(e.province, e.ward), className="feed-place"
                                    ),
                                    html.Span(
                                        f"{e.source}" + (f" · {detail}" if detail else ""),
                                        className="feed-source",
                                    ),
                                ],
                                className="feed-line sub",
                            ),
                        ],
                        className="feed-body",
                    ),
                ],
                className=f"feed-item sev-{e.severity}",
                id={"type": "feed-item", "id": e.id},
                n_clicks=0,
                **{"data-event": e.id},
            )
        )
    return rows
