"""Replay page for engineers: pick a feed, speed and window, start/stop, watch progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboards.auth import audit_denial, current_lang, deny, guard, page
from dashboards.fmt import fmt_datetime, fmt_duration, province_name
from dashboards.i18n import t
from dashboards.replay_runner import (
    Feed,
    ReplayError,
    ReplayManager,
    ReplayRun,
    list_feeds,
    parse_hhmm,
)
from dashboards.services import services
from ioc.replays import ReplayStatus
from ioc.store import User

dash.register_page(__name__, path="/replay", title="IOC — Phát lại", order=2)

SPEEDS = ("1", "2", "5", "10", "30", "60", "120", "max")


def _manager() -> ReplayManager:
    svc = services()
    s = svc.settings
    return ReplayManager(
        svc.replay_dir, db_url=s.db_url, mqtt_url=s.mqtt_url, data_dir=s.data_dir.resolve()
    )


def _feed_label(feed: Feed) -> str:
    h = feed.header
    parts = [feed.name]
    if feed.province:
        parts.append(province_name(feed.province))
    if h.get("date"):
        parts.append(str(h["date"]))
    if feed.duration_s:
        parts.append(fmt_duration(feed.duration_s))
    if h.get("messages"):
        parts.append(f"{int(h['messages']):,} msg".replace(",", "."))
    return " · ".join(parts)


def _time_field(label: str, input_id: str, placeholder: str) -> html.Label:
    """A labelled HH:MM text box for one end of the replay window."""
    return html.Label(
        [
            html.Span(label, className="field-label"),
            dcc.Input(
                id=input_id, type="text", placeholder=placeholder, maxLength=5, className="input"
            ),
        ],
        className="field",
    )


def _allowed_feeds(user: User) -> list[Feed]:
    feeds = list_feeds(services().settings.data_dir)
    if user.province is None:
        return feeds
    return [f for f in feeds if f.province == user.province]


@page("replay.run")
def layout(user: User, lang: str, **_: Any) -> html.Div:
    """Form on the left, the running replay on the right."""
    feeds = _allowed_feeds(user)
    options = [{"label": _feed_label(f), "value": f.name} for f in feeds]
    preferred = next(
        (f.name for f in feeds if f.province == "68"), feeds[0].name if feeds else None
    )
    broker = services().settings.mqtt_url
    return html.Div(
        [
            html.Div(
                [
                    html.Section(
                        [
                            html.H2(t("replay.title", lang)),
                            html.P(t("replay.hint", lang), className="muted small"),
                            html.Label(
                                [
                                    html.Span(t("replay.feed", lang), className="field-label"),
                                    dcc.Dropdown(
                                        id="replay-feed",
                                        options=options,
                                        value=preferred,
                                        clearable=False,
                                        className="dropdown",
                                        placeholder=t("replay.no_feeds", lang),
                                    ),
                                ],
                                className="field",
                            ),
                            html.Div(
                                [
                                    html.Label(
                                        [
                                            html.Span(
                                                t("replay.speed", lang), className="field-label"
                                            ),
                                            dcc.Dropdown(
                                                id="replay-speed",
                                                options=[
                                                    {
                                                        "label": f"{s}×" if s != "max" else "max",
                                                        "value": s,
                                                    }
                                                    for s in SPEEDS
                                                ],
                                                value="1",  # real time; faster compresses rebased feed time, never ahead
                                                clearable=False,
                                                className="dropdown",
                                            ),
                                        ],
                                        className="field",
                                    ),
                                    _time_field(t("replay.from", lang), "replay-from", "00:00"),
                                    _time_field(t("replay.to", lang), "replay-until", "24:00"),
                                ],
                                className="row",
                            ),
                            dcc.Checklist(
                                id="replay-flags",
                                options=[
                                    {"label": t("replay.rebase", lang), "value": "rebase"},
                                    {"label": t("replay.loop", lang), "value": "loop"},
                                ],
                                value=["rebase"],
                                className="checklist",
                            ),
                            html.Div(
                                [
                                    html.Button(
                                        t("replay.start", lang),
                                        id="replay-start",
                                        className="btn btn-primary",
                                        n_clicks=0,
                                        disabled=not feeds,
                                    ),
                                    html.Button(
                                        t("replay.stop", lang),
                                        id="replay-stop",
                                        className="btn btn-danger",
                                        n_clicks=0,
                                    ),
                                ],
                                className="row",
                            ),
                            html.Div(id="replay-message", className="form-message", role="status"),
                            html.P(
                                f"{t('replay.broker', lang)}: {broker}", className="muted small"
                            ),
                        ],
                        className="panel replay-form",
                    ),
                    html.Section(
                        [
                            html.Div(
                                id="replay-status",
                                children=html.P(t("replay.none", lang), className="muted"),
                            )
                        ],
                        className="panel",
                    ),
                ],
                className="replay-grid",
            ),
            dcc.Interval(id="replay-tick", interval=1000),
        ],
        className="replay-page",
        id="replay-page",
    )


def run_in_scope(user: User, run: ReplayRun | ReplayStatus) -> bool:
    """True if the user may see and stop this run (same rule as starting it)."""
    return user.province is None or run.province == user.province


@callback(
    Output("replay-message", "children"),
    Input("replay-start", "n_clicks"),
    Input("replay-stop", "n_clicks"),
    State("replay-feed", "value"),
    State("replay-speed", "value"),
    State("replay-from", "value"),
    State("replay-until", "value"),
    State("replay-flags", "value"),
    prevent_initial_call=True,
)
@guard("replay.run")
def control(
    user: User, _s: Any, _t: Any, feed_name: Any, speed: Any, start: Any, until: Any, flags: Any
) -> str:
    """Start or stop; every start and stop goes to the audit log."""
    lang = current_lang()
    manager = _manager()
    store = services().store
    if dash.ctx.triggered_id == "replay-stop":
        current = manager.current()
        if current is not None and not run_in_scope(user, current):
            # Same answer as "nothing running": another province's run is not shown.
            audit_denial(user, "replay stop", {"run": current.id, "province": current.province})
            return t("replay.stopped", lang)
        if not manager.is_running(current) and any(run_in_scope(user, o) for o in manager.others()):
            # Not ours to stop: its parent (ioc demo) would take the whole demo down with it.
            return t("replay.external_stop", lang)
        run = manager.stop(user.username)
        if run is not None:
            store.append_audit(
                user.username,
                "replay_stop",
                target=run.feed_name,
                details={"run": run.id},
                province=run.province,
            )
        return t("replay.stopped", lang)
    feeds = {f.name: f for f in list_feeds(services().settings.data_dir)}
    feed = feeds.get(str(feed_name))
    if feed is None:
        raise PreventUpdate
    if user.province is not None and feed.province != user.province:
        raise deny(user, "replay feed", feed=feed.name, province=feed.province)
    if str(speed) not in SPEEDS:
        return f"bad speed {speed!r}"
    try:
        frm, unt = parse_hhmm(start), parse_hhmm(until)
    except ValueError as exc:
        return str(exc)
    flags = flags or []
    try:
        run = manager.start(
            feed,
            speed=str(speed),
            start=frm,
            until=unt,
            loop="loop" in flags,
            rebase="rebase" in flags,
            user=user.username,
        )
    except ReplayError as exc:
        return str(exc)
    store.append_audit(
        user.username,
        "replay_start",
        target=feed.name,
        details={
            "run": run.id,
            "speed": run.speed,
            "from": frm,
            "until": unt,
            "loop": run.loop,
            "rebase": run.rebase,
        },
        province=feed.province,
    )
    return f"{t('replay.running', lang)}: {feed.name}"


@callback(
    Output("replay-status", "children"),
    Input("replay-tick", "n_intervals"),
)
@guard("replay.run")
def status(user: User, _n: Any) -> Any:
    """State, progress (feed time played over the window), stored events and the log tail."""
    lang = current_lang()
    manager = _manager()
    others = [_external(o, lang) for o in manager.others() if run_in_scope(user, o)]
    run = manager.current()
    if run is None or not run_in_scope(user, run):
        if others:
            return html.Div(others, id="replay-others")
        return html.P(t("replay.none", lang), className="muted")
    mine = _page_run(user, manager, run, lang)
    return html.Div([html.Div(others, id="replay-others"), mine]) if others else mine


def _external(status: ReplayStatus, lang: str) -> html.Div:
    """A replay started outside the page (the demo's): what its own heartbeat says."""
    tz = services().settings.timezone
    speed = f"{status.speed}×" if status.speed != "max" else "max"
    played = fmt_duration(status.feed_seconds)
    if status.loop and status.loops:
        played += f" · {t('replay.pass', lang)} {status.loops}"
    rows = [
        (t("replay.feed", lang), status.feed),
        (t("replay.speed", lang), speed),
        (t("replay.window", lang), f"{status.start or '00:00'} → {status.until or '…'}"),
        ("", f"{fmt_datetime(status.started, tz)} · {t('replay.external', lang)}"),
        (t("replay.process", lang), str(status.pid)),
        (t("replay.feed_time", lang), played),
        (t("replay.messages", lang), f"{status.messages:,}".replace(",", ".")),
    ]
    return html.Div(
        [
            html.H2(html.Span(t("replay.running", lang), className="replay-state running")),
            html.Table(
                html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows if v]),
                className="attrs",
            ),
        ],
        className="replay-external",
        **{"data-pid": str(status.pid), "data-feed": status.feed},
    )


def _page_run(user: User, manager: ReplayManager, run: ReplayRun, lang: str) -> html.Div:
    """The replay this page started: state, progress, stored events and the log tail."""
    running = manager.is_running(run)
    if running:
        state, css = t("replay.running", lang), "running"
    elif run.stopped_by:
        state, css = t("replay.stopped", lang), "stopped"
    elif run.exit_code not in (None, 0):
        state, css = f"{t('replay.failed', lang)} ({run.exit_code})", "failed"
    else:
        state, css = t("replay.finished", lang), "finished"
    now = datetime.now(UTC)
    end = datetime.fromisoformat(run.ended_at) if run.ended_at and not running else now
    elapsed = (end - run.started).total_seconds()
    played = None if run.speed == "max" else elapsed * float(run.speed)
    progress = None
    if played is not None and run.window_s:
        progress = (
            (played % run.window_s) / run.window_s if run.loop else min(1.0, played / run.window_s)
        )
        if not running and not run.stopped_by and not run.loop:
            progress = 1.0
    tz = services().settings.timezone
    store = services().store
    stored = store.count_events(province=user.province, since=run.started - timedelta(seconds=5))
    rows = [
        (t("replay.feed", lang), run.feed_name),
        (t("replay.speed", lang), f"{run.speed}×" if run.speed != "max" else "max"),
        (t("replay.window", lang), f"{run.start or '00:00'} → {run.until or '…'}"),
        ("", f"{fmt_datetime(run.started, tz)} · {run.started_by}"),
        (
            t("replay.progress", lang),
            f"{fmt_duration(elapsed)}"
            + (f" · {progress * 100:.0f} %" if progress is not None else ""),
        ),
        (
            t("replay.stored", lang) if run.rebase else "",
            f"{stored:,}".replace(",", ".") if run.rebase else "",
        ),
    ]
    return html.Div(
        [
            html.H2([html.Span(state, className=f"replay-state {css}", id="replay-state")]),
            html.Div(
                html.Div(
                    className="progress-bar", style={"width": f"{(progress or 0) * 100:.1f}%"}
                ),
                className="progress",
                id="replay-progress",
            ),
            html.Table(
                html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows if v]),
                className="attrs",
            ),
            html.H4(t("replay.log", lang)),
            html.Pre(manager.log_tail(run), className="replay-log", id="replay-log"),
        ]
    )
