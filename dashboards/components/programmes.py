"""Components of the programme and review pages (issue 16), built from their data views."""

from __future__ import annotations

from datetime import date
from typing import Any

from dash import html

from dashboards.i18n import t
from dashboards.programme_data import BEHIND_ROWS, ProgrammeView, Review
from ioc.programmes import PROGRAMMES


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


def _rate(r: Review, n: int, lang: str) -> str:
    per = r.per_10k(n)
    rate = "—" if per is None else f"{per:.2f}".replace(".", "," if lang == "vi" else ".")
    return t("review.per_10k", lang).format(
        n=_num(n, lang),
        rate=rate,
        population=_num(r.population, lang),
        cameras=_num(r.cameras_now, lang),
    )


def _minutes(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f}".replace(".", "," if lang == "vi" else ".")


def _alarms(r: Review, lang: str) -> str:
    a = r.alarms
    return t("review.alarm_text", lang).format(
        opened=_num(a.get("n") or 0, lang),
        acknowledged=_num(a.get("n_ack") or 0, lang),
        resolved=_num(a.get("n_resolved") or 0, lang),
        ack=_minutes(a.get("ack_median_s"), lang),
        resolve=_minutes(a.get("resolve_median_s"), lang),
    )


def summary(r: Review, lang: str) -> html.Table:
    """One row per item: the change between the two days."""
    rows = [
        ("signal_covered", _num(r.signal_covered, lang)),
        ("power_covered", _num(r.power_covered, lang)),
        ("cameras_integrated", _num(r.cameras_integrated, lang)),
        ("order_incidents", _rate(r, r.order_incidents, lang)),
        ("traffic_violations", _rate(r, r.traffic_violations, lang)),
        ("alarms", _alarms(r, lang)),
    ]
    head = [t("review.item", lang), t("review.change", lang)]
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in head])),
            html.Tbody(
                [
                    html.Tr([html.Td(t(f"review.{k}", lang)), html.Td(v, id=f"review-{k}")])
                    for k, v in rows
                ]
            ),
        ],
        className="table",
        id="review-table",
    )


def review_places(r: Review, lang: str) -> Any:
    """Communes (or provinces) where something moved, the most first."""
    if not r.places:
        return html.P(t("review.none", lang), className="muted")
    head = [t("prog.place", lang), t("review.signal_covered", lang),
            t("review.power_covered", lang), t("review.cameras_integrated", lang)]  # fmt: skip
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in head])),
            html.Tbody(
                [
                    html.Tr([html.Td(name), html.Td(sig), html.Td(pw), html.Td(cam)])
                    for _code, name, sig, pw, cam in r.places
                ]
            ),
        ],
        className="table",
        id="review-places-table",
    )
