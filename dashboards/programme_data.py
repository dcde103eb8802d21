"""Data and figures of the programme and review pages: progress against the plan line, places
furthest behind, camera integration by owner and vendor, and what changed between two reviews."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dashboards.auth import deny, scope
from dashboards.figures import FONT, GRID, MUTED, OUTLINE, TEXT
from dashboards.fmt import local_time
from dashboards.i18n import t
from dashboards.services import services
from ioc.auth import can
from ioc.geo import geography
from ioc.programmes import PROGRAMMES, Progress, cumulative, progress
from ioc.store import Store, User
from ioc.store.register_reads import split_incidents

NATIONAL = "all"
DONE_COLOUR = "#4aa3ff"
PLAN_COLOUR = "#7f8ea3"
PROJECTION_COLOUR = "#f0b429"
BEHIND_ROWS = 15
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class PlaceRow:
    """A province or commune in a programme: target, done and what is left."""

    code: str
    name: str
    target: int
    done: int
    households_left: int | None = None

    @property
    def remaining(self) -> int:
        return self.target - self.done

    @property
    def share(self) -> float:
        return self.done / self.target if self.target else 1.0


@dataclass
class ProgrammeView:
    """Everything the programme page shows for one programme, place and day."""

    programme: str
    province: str | None
    on: date
    progress: Progress
    running: list[tuple[date, int]]
    places: list[PlaceRow]
    by_owner: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_vendor: dict[str, tuple[int, int]] = field(default_factory=dict)
    coverage: dict[str, int] = field(default_factory=dict)


# --- controls shared by the programme and review pages ---------------------------------


def today_local() -> date:
    """Today where the IOC is."""
    return local_time(datetime.now(UTC), services().settings.timezone).date()


def allowed_province(user: User, requested: Any) -> str | None:
    """The province the user may look at: theirs if scoped; None (national) needs kpi.national."""
    code = requested if isinstance(requested, str) and geography().is_province(requested) else None
    province = scope(user, code)
    if province is None and not can(user, "kpi.national"):
        raise deny(user, "kpi.national")
    return province


def parse_day(value: Any) -> date | None:
    """A YYYY-MM-DD day from a control, None if it is not one."""
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def province_options(user: User, lang: str) -> list[dict[str, str]]:
    """The provinces a user may pick: their own if scoped, else the nation and all 34."""
    geo = geography()
    if user.province is not None:
        return [{"label": geo.province(user.province).name, "value": user.province}]
    options = (
        [{"label": t("kpi.national", lang), "value": NATIONAL}] if can(user, "kpi.national") else []
    )
    return options + [
        {"label": p.name, "value": p.code}
        for p in sorted(geo.provinces.values(), key=lambda p: p.code)
    ]


def _name(code: str, commune: bool) -> str:
    geo = geography()
    if commune:
        return geo.communes[code].name if code in geo.communes else code
    return geo.provinces[code].name if code in geo.provinces else code


def programme_view(store: Store, programme: str, province: str | None, on: date) -> ProgrammeView:
    """Progress of a programme in a province (or nationally) by the end of local day `on`."""
    prog = PROGRAMMES[programme]
    target, per_day = store.programme_timeline(programme, province)
    view = ProgrammeView(
        programme=programme,
        province=province,
        on=on,
        progress=progress(prog, target, per_day, on),
        running=cumulative(per_day, on),
        places=[],
    )
    commune = province is not None
    if programme in ("signal", "power"):
        for r in store.programme_counts(
            by="ward" if commune else "province", province=province, on=on
        ):
            tgt = getattr(r, f"{programme}_target")
            if tgt:
                view.places.append(
                    PlaceRow(
                        r.key,
                        _name(r.key, commune),
                        tgt,
                        getattr(r, f"{programme}_done"),
                        getattr(r, f"{programme}_households_left"),
                    )
                )
    else:
        cams = store.camera_summary(province, on=on)
        view.places = [
            PlaceRow(k, _name(k, commune), planned, done)
            for k, (planned, done) in cams.places.items()
        ]
        view.by_owner, view.by_vendor, view.coverage = cams.owners, cams.vendors, cams.coverage
    # Furthest behind: the smallest share done, then the most left.
    view.places.sort(key=lambda p: (p.share, -p.remaining, p.code))
    return view


def plan_points(programme: str, target: int) -> list[tuple[date, float]]:
    """The plan line: start, milestones and deadline with the items planned done by then."""
    prog = PROGRAMMES[programme]
    points = [(prog.start, 0.0), *prog.milestones, (prog.deadline, 1.0)]
    return [(d, share * target) for d, share in points]


def progress_figure(view: ProgrammeView, lang: str) -> dict[str, Any]:
    """Cumulative items done against the plan line, and the projection at the current rate."""
    prog = PROGRAMMES[view.programme]
    p = view.progress
    done_x = [prog.start.isoformat()] + [d.isoformat() for d, _ in view.running]
    done_y = [0] + [n for _, n in view.running]
    if view.running and view.running[-1][0] < view.on:
        done_x.append(view.on.isoformat())
        done_y.append(p.done)
    plan = plan_points(view.programme, p.target)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": t("prog.chart_plan", lang),
            "x": [d.isoformat() for d, _ in plan],
            "y": [round(v, 1) for _, v in plan],
            "line": {"color": PLAN_COLOUR, "dash": "dot", "width": 2},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t("prog.chart_done", lang),
            "x": done_x,
            "y": done_y,
            "line": {"color": DONE_COLOUR, "width": 3, "shape": "hv"},
        },
    ]
    if p.projected_completion is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("prog.projected", lang),
                "x": [view.on.isoformat(), p.projected_completion.isoformat()],
                "y": [p.done, p.target],
                "line": {"color": PROJECTION_COLOUR, "dash": "dash", "width": 2},
            }
        )
    axis = {"gridcolor": GRID, "zeroline": False, "linecolor": GRID, "color": MUTED}
    return {
        "data": data,
        "layout": {
            "margin": {"l": 48, "r": 8, "t": 8, "b": 32},
            "height": 300,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": FONT, "color": TEXT, "size": 12},
            "legend": {"orientation": "h", "y": 1.12, "x": 0},
            "hoverlabel": {"bgcolor": "#17233a", "bordercolor": OUTLINE, "font": {"family": FONT}},
            "separators": ",." if lang == "vi" else ".,",
            "xaxis": {**axis, "type": "date", "tickformat": "%d/%m/%Y"},
            "yaxis": {**axis, "rangemode": "tozero", "tickformat": ",d"},
            "meta": {"programme": view.programme, "target": p.target, "done": p.done},
        },
    }


def _safe(value: Any) -> Any:
    # Spreadsheet programs run cells starting with these as formulas (CSV injection).
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value


def places_csv(view: ProgrammeView) -> str:
    """The places of a view as CSV (UTF-8 with BOM for spreadsheet programs)."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["programme", "on", "code", "name", "target", "done", "remaining", "share",
                  "households_left"])  # fmt: skip
    for p in view.places:
        out.writerow(
            [_safe(v) for v in (view.programme, view.on.isoformat(), p.code, p.name, p.target,
                                p.done, p.remaining, round(p.share, 4),
                                "" if p.households_left is None else p.households_left)]
        )  # fmt: skip
    return "\ufeff" + buf.getvalue()


# --- review -------------------------------------------------------------------------


@dataclass
class Review:
    """What changed between the end of local day `since` and the end of `until`."""

    province: str | None
    since: date
    until: date
    signal_covered: int
    power_covered: int
    cameras_integrated: int
    order_incidents: int
    traffic_violations: int
    population: int
    cameras_now: int
    # Alarms opened in the period: n, n_ack, n_resolved, ack_median_s, resolve_median_s, ...
    alarms: dict[str, Any]
    # (commune or province code, name, villages to 4G, villages to the grid, cameras integrated)
    places: list[tuple[str, str, int, int, int]]

    def per_10k(self, n: int) -> float | None:
        """n per 10,000 residents of the one population denominator, None without one."""
        return n * 10_000 / self.population if self.population else None


def population_of(province: str | None) -> int:
    """The denominator of every per-10,000 rate: the sum of the commune population scales."""
    geo = geography()
    communes = geo.communes_of(province) if province else geo.communes.values()
    return sum(c.population or 0 for c in communes)


def review(store: Store, province: str | None, since: date, until: date) -> Review:
    """Programme moves, cameras integrated and incidents between two review days."""
    moves = store.register_moves(since, until, province)
    places = [
        (key, _name(key, province is not None), sig, pw, cam)
        for key, (sig, pw, cam) in moves.items()
        if sig or pw or cam
    ]
    places.sort(key=lambda r: (-(r[2] + r[3] + r[4]), r[0]))
    cameras_now = sum(done for _, done in store.camera_summary(province, on=until).owners.values())
    kinds = store.security_incident_counts(
        since + timedelta(days=1), until + timedelta(days=1), province
    )
    order, traffic = split_incidents(kinds.items())
    # Local days: from the end of `since` to the end of `until` (UTC+7, no daylight saving).
    start = datetime(since.year, since.month, since.day, 17, tzinfo=UTC)
    end = datetime(until.year, until.month, until.day, 17, tzinfo=UTC)
    from ioc.alarms import ACK_SLA_S, RESOLVE_SLA_S

    rows = store.alarm_handling(
        start, end, datetime.now(UTC), ACK_SLA_S, RESOLVE_SLA_S, group="total", province=province
    )
    alarms = rows[0] if rows else {"n": 0, "n_ack": 0, "n_resolved": 0}
    return Review(
        province=province,
        since=since,
        until=until,
        signal_covered=sum(p[2] for p in places),
        power_covered=sum(p[3] for p in places),
        cameras_integrated=sum(p[4] for p in places),
        order_incidents=order,
        traffic_violations=traffic,
        population=population_of(province),
        cameras_now=cameras_now,
        alarms=alarms,
        places=places,
    )


# --- the one-page province report --------------------------------------------------------


def programmes_report_html(store: Store, province: str, on: date, lang: str) -> str:
    """The programmes of a province as an HTML section of the province report (escaped)."""
    import html

    def e(value: object) -> str:
        return html.escape(str(value), quote=True)

    def num(n: float) -> str:
        text = f"{n:,.0f}"
        return text.replace(",", ".") if lang == "vi" else text

    rows = []
    for key, prog in PROGRAMMES.items():
        target, per_day = store.programme_timeline(key, province)
        if not target:
            continue
        p = progress(prog, target, per_day, on)
        if p.finished is not None:
            projected = t("prog.finished", lang).format(day=p.finished.strftime("%d/%m/%Y"))
        elif p.projected_completion is not None:
            projected = p.projected_completion.strftime("%d/%m/%Y")
        else:
            projected = t("prog.never", lang)
        days = (
            t("prog.days_left", lang).format(days=p.days_to_deadline)
            if p.days_to_deadline >= 0
            else t("prog.overdue", lang).format(days=-p.days_to_deadline)
        )
        rows.append(
            f"<tr><td>{e(t('prog.' + key, lang))}</td><td class='num'>{e(num(p.target))}</td>"
            f"<td class='num'>{e(num(p.done))}</td><td class='num'>{e(num(p.remaining))}</td>"
            f"<td class='num'>{e(num(round(p.planned_share * p.target)))}</td>"
            f"<td>{e(prog.deadline.strftime('%d/%m/%Y'))} ({e(days)})</td>"
            f"<td>{e(projected)}</td></tr>"
        )
    if not rows:
        return ""
    head = "".join(
        f"<th>{e(t(k, lang))}</th>"
        for k in ("prog.programme", "prog.target", "prog.done", "prog.remaining",
                  "prog.planned", "prog.deadline", "prog.projected")
    )  # fmt: skip
    return (
        f"<h2>{e(t('prog.title', lang))}</h2><table id='report-programmes'><thead><tr>{head}"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
