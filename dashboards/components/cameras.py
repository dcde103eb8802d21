"""Camera wall cards and a camera's history panel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dash import dcc, html

from dashboards.components.feed import severity_chip
from dashboards.data import CameraRow
from dashboards.fmt import HEALTH_COLOURS, epoch_ms, fmt_age, fmt_time, place_name
from dashboards.i18n import kind_text, t
from dashboards.routes import snapshot_ref, snapshot_url
from dashboards.state import device_seen
from ioc.events import Event

STATUSES = ("ok", "fault", "offline", "unknown")
# Where a camera name breaks into parts ("tuyến Phan Thiết – La Gi, Xã Tân Hải"); a plain
# hyphen is not one: it sits inside commune names ("Phường Cam Ly - Đà Lạt").
NAME_SEPARATORS = (", ", " – ", " — ", "; ", " | ")
MIN_SHARED_HEAD = 12  # characters; a shorter shared start ("Camera ") is not worth cutting
SHORT_NAME = 32  # characters: fits a card on two lines, never split


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def name_parts(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Each name as (shared head, distinguishing tail) among the names shown together.

    The tail starts at the name part where it first differs from its most similar neighbour,
    so "… La Gi, Xã Tân Hải" and "… La Gi, Xã Tân Thành" keep "Xã Tân Hải" / "Xã Tân Thành"
    whole while the shared head may be cut. A name that shares no part has an empty head.
    """
    ordered = sorted(set(names))
    out: dict[str, tuple[str, str]] = {}
    for i, name in enumerate(ordered):
        near = [ordered[j] for j in (i - 1, i + 1) if 0 <= j < len(ordered)]
        diff = max((_common_prefix(name, other) for other in near), default=0)
        cut = max(
            (name.rfind(sep, 0, diff) + len(sep) for sep in NAME_SEPARATORS if sep in name[:diff]),
            default=0,
        )
        if len(name) <= SHORT_NAME:
            cut = 0
        elif cut == 0 and diff >= MIN_SHARED_HEAD:
            # No part boundary in the shared head: cut at its last word instead.
            cut = name.rfind(" ", 0, diff) + 1
        out[name] = (name[:cut].rstrip(" ,–—;|"), name[cut:])
    return out


def status_badge(status: str, lang: str, text: str | None = None, **kw: Any) -> html.Span:
    """A coloured health badge."""
    return html.Span(
        text or t(f"cam.status.{status}", lang),
        className=f"badge health-{status}",
        style={"--health": HEALTH_COLOURS[status]},
        **kw,
    )


def status_summary(rows: Sequence[CameraRow], lang: str) -> html.Div:
    """Counts per health status."""
    counts = Counter(r.status for r in rows)
    return html.Div(
        [html.Span(f"{len(rows)} {t('cam.count', lang)}", className="count")]
        + [
            status_badge(
                s,
                lang,
                text=f"{t(f'cam.status.{s}', lang)}: {counts.get(s, 0)}",
                id=f"cam-count-{s}",
            )
            for s in STATUSES
        ],
        className="cam-summary",
    )


def camera_card(
    row: CameraRow,
    snapshot: Event | None,
    lang: str,
    tz: str,
    now: datetime,
    parts: tuple[str, str] | None = None,
) -> html.Div:
    """One tile: latest snapshot, health badge, name, place, last seen (ticking).

    parts: the name split by name_parts(), so the part that tells cameras apart stays visible.
    """
    d = row.device
    seen = device_seen(d)
    full = d.name or d.source
    head, tail = parts or ("", full)
    if snapshot is not None and snapshot_ref(snapshot):
        img: Any = html.Img(
            src=snapshot_url(snapshot.id),
            alt=d.name or d.source,
            title=fmt_time(snapshot.ts, tz, date=True),
        )
        img_cls = "cam-img"
    else:
        img = html.Span(t("cam.no_snapshot", lang))
        img_cls = "cam-img missing"
    seen_text = (
        html.Span(fmt_age(seen, now), **{"data-since": str(epoch_ms(seen))})
        if seen
        else html.Span("—")
    )
    return html.Div(
        [
            html.Div([img, status_badge(row.status, lang)], className=img_cls),
            html.Div(
                [
                    html.Span(
                        [
                            html.Span(head, className="cam-name-head") if head else None,
                            html.Span(tail, className="cam-name-tail"),
                        ],
                        className="cam-name",
                        title=full,
                    ),
                    html.Span(d.source, className="cam-id mono"),
                    html.Span(place_name(d.province, d.ward, d.lat, d.lon), className="cam-place"),
                    html.Span([t("cam.last_seen", lang), ": ", seen_text], className="cam-seen"),
                ],
                className="cam-meta",
            ),
        ],
        className=f"cam-card status-{row.status}",
        id={"type": "cam-card", "id": d.source},
        n_clicks=0,
        **{"data-camera": d.source, "data-status": row.status},
    )


def camera_history(
    row: CameraRow,
    *,
    timeline: Any,
    events: Sequence[Event],
    snapshots: Sequence[Event],
    lang: str,
    tz: str,
) -> html.Div:
    """Health timeline, open conditions, recent events and a snapshot strip for one camera."""
    d = row.device
    return html.Div(
        [
            html.Div(
                [
                    html.H2(
                        [t("cam.history", lang), html.Span(d.name or d.source, className="count")]
                    ),
                    html.Div(
                        [
                            status_badge(row.status, lang),
                            html.Span(
                                place_name(d.province, d.ward, d.lat, d.lon), className="muted"
                            ),
                        ],
                        className="detail-head",
                    ),
                ],
                className="cam-history-head",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.H4(t("cam.conditions", lang)),
                            html.Ul(
                                [
                                    html.Li(
                                        f"{kind_text(c.kind, lang)} · "
                                        f"{fmt_time(c.since, tz, date=True)}"
                                    )
                                    for c in row.conditions
                                ],
                                className="conditions",
                            )
                            if row.conditions
                            else html.P(
                                t("cam.status.ok", lang) if row.status == "ok" else "—",
                                className="muted",
                            ),
                            html.H4(t("cam.recent", lang)),
                            html.Ul(
                                [
                                    html.Li(
                                        [
                                            html.Span(
                                                fmt_time(e.ts, tz, date=True), className="feed-time"
                                            ),
                                            html.Span(kind_text(e.kind, lang)),
                                            severity_chip(e.severity, lang),
                                        ],
                                        className="mini-item",
                                    )
                                    for e in events
                                ],
                                className="mini-list",
                                id="cam-recent",
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.H4(t("cam.timeline", lang)),
                            dcc.Graph(
                                figure=timeline, config={"displayModeBar": False}, id="cam-timeline"
                            ),
                            html.H4(t("cam.snapshots", lang)),
                            html.Div(
                                [
                                    html.Figure(
                                        [
                                            html.Img(
                                                src=snapshot_url(e.id),
                                                alt=f"{d.source} {e.ts.isoformat()}",
                                            ),
                                            html.Figcaption(
                                                f"{fmt_time(e.ts, tz, date=True)} · "
                                                f"{kind_text(e.kind, lang)}"
                                            ),
                                        ]
                                    )
                                    for e in snapshots
                                ]
                                or [html.P(t("cam.no_snapshot", lang), className="muted")],
                                className="snap-strip",
                                id="cam-snapshots",
                            ),
                        ]
                    ),
                ],
                className="cam-history-grid",
            ),
        ],
        className="panel cam-history",
        id="cam-history-body",
        **{"data-camera": d.source},
    )
