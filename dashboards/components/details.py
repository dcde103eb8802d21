"""Detail cards for a clicked event, device or commune (with the camera snapshot)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import html

from dashboards.attr_text import attr_rows
from dashboards.components.feed import severity_chip
from dashboards.fmt import HEALTH_COLOURS, fmt_datetime, fmt_time, place_name
from dashboards.i18n import kind_text, t
from dashboards.routes import snapshot_ref, snapshot_url
from dashboards.state import Condition
from ioc.events import Event
from ioc.store import Device


def attrs_table(attrs: dict[str, Any], lang: str, tz: str) -> html.Table:
    """Device-supplied attributes as plain text cells, labelled and valued in words."""
    rows = [
        html.Tr(
            [
                html.Th(row.label, title=row.key, **{"data-key": row.key}),
                html.Td(
                    [
                        html.Span(row.value, className="attr-value"),
                        html.Span(row.code, className="attr-code") if row.code else None,
                    ]
                ),
            ]
        )
        for row in attr_rows(attrs, lang, tz)
    ]
    return html.Table(html.Tbody(rows), className="attrs")


def snapshot_img(event: Event | None, lang: str, *, cls: str = "snapshot") -> html.Div:
    """The event's snapshot from this server, or a placeholder."""
    if event is not None and snapshot_ref(event):
        return html.Div(
            html.Img(
                src=snapshot_url(event.id),
                alt=f"{event.source} {event.ts.isoformat()}",
            ),
            className=cls,
        )
    return html.Div(t("cam.no_snapshot", lang), className=f"{cls} missing")


def event_details(event: Event, lang: str, tz: str) -> html.Div:
    """One event: what, where, when, source, attributes and snapshot if any."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span(kind_text(event.kind, lang), className="detail-title"),
                    severity_chip(event.severity, lang),
                ],
                className="detail-head",
            ),
            html.Div(place_name(event.province, event.ward), className="detail-place"),
            html.Div(f"{fmt_datetime(event.ts, tz)} · {event.source}", className="muted"),
            snapshot_img(event, lang) if snapshot_ref(event) else None,
            attrs_table(event.attrs, lang, tz),
        ],
        className="details",
        id="details-body",
        **{"data-event": event.id},
    )


def device_details(
    device: Device,
    lang: str,
    tz: str,
    *,
    status: str | None = None,
    conditions: Sequence[Condition] = (),
    snapshot: Event | None = None,
) -> html.Div:
    """A bus or camera: latest state, open conditions and, for cameras, the latest snapshot."""
    children: list[Any] = [
        html.Div(
            [
                html.Span(device.name or device.source, className="detail-title"),
                html.Span(
                    t(f"cam.status.{status}", lang),
                    className=f"badge health-{status}",
                    style={"--health": HEALTH_COLOURS[status]},
                )
                if status
                else None,
            ],
            className="detail-head",
        ),
        html.Div(
            place_name(device.province, device.ward, device.lat, device.lon),
            className="detail-place",
        ),
        html.Div(
            f"{t('cam.last_seen', lang)}: {fmt_datetime(device.last_ts or device.status_ts, tz)}"
            + (f" · {kind_text(device.last_kind, lang)}" if device.last_kind else ""),
            className="muted",
        ),
    ]
    if conditions:
        children.append(
            html.Ul(
                [
                    html.Li(f"{kind_text(c.kind, lang)} · {fmt_time(c.since, tz, date=True)}")
                    for c in conditions
                ],
                className="conditions",
            )
        )
    if status is not None:
        children.append(snapshot_img(snapshot, lang))
    if device.last_attrs:
        children.append(attrs_table(device.last_attrs, lang, tz))
    return html.Div(
        children, className="details", id="details-body", **{"data-device": device.source}
    )


def ward_details(
    province: str, ward: str | None, events: Sequence[Event], lang: str, tz: str
) -> html.Div:
    """A commune bubble: its newest incidents."""
    return html.Div(
        [
            html.Div(place_name(province, ward), className="detail-title"),
            html.Ul(
                [
                    html.Li(
                        [
                            html.Span(fmt_time(e.ts, tz), className="feed-time"),
                            html.Span(kind_text(e.kind, lang)),
                            severity_chip(e.severity, lang),
                        ],
                        className="mini-item",
                    )
                    for e in events
                ],
                className="mini-list",
            ),
        ],
        className="details",
        id="details-body",
    )
