"""Durations on the operator's screen are never negative, even for events stamped ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dash.development.base_component import Component

from dashboards.components.alarms import sla_timers
from dashboards.fmt import fmt_age
from ioc.store import Alarm


def texts(node) -> list[str]:
    """Every string in a Dash component tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, (list, tuple)):
        return [s for child in node for s in texts(child)]
    if isinstance(node, Component):
        return texts(getattr(node, "children", None) or [])
    return []


def alarm(opened: datetime, acked: datetime | None) -> Alarm:
    return Alarm(
        id=1, rule="security.intrusion", dedup_key="k", source="cam-1",
        kind="security.intrusion", province="68", ward=None, severity=3, title="Xâm nhập",
        state="acknowledged" if acked else "open", opened_at=opened, last_event_at=opened,
        event_count=1, first_event_id="e1", last_event_id="e1", acknowledged_at=acked,
        acknowledged_by="op" if acked else None, assigned_to=None, resolved_at=None,
        resolved_by=None, resolution=None,
    )  # fmt: skip


def test_an_alarm_opened_ahead_of_the_clock_shows_zero_not_a_negative_age():
    now = datetime.now(UTC)
    ahead = now + timedelta(minutes=4, seconds=25)  # a rebased replay at 60x did this
    for acked in (None, now):
        shown = " ".join(texts(sla_timers(alarm(ahead, acked), "vi", now)))
        assert "-" not in shown, shown
        assert "0s" in shown


def test_fmt_age_counts_forward():
    start = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert fmt_age(start, start + timedelta(minutes=12, seconds=5)) == "12m05s"
    assert fmt_age(start, start - timedelta(minutes=4)) == "0s"
