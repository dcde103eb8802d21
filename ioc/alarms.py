"""Alarm rules: which events open an alarm, and which repeats merge into one.

The ingest writer applies these in the same transaction that stores the events,
so each stored event is considered exactly once. The store imports this module;
it imports nothing of the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from ioc.events import Event

# SLA targets an operator is measured against (seconds), by severity.
ACK_SLA_S = {4: 60, 3: 180, 2: 600, 1: 1800, 0: 3600}
RESOLVE_SLA_S = {4: 1800, 3: 3600, 2: 4 * 3600, 1: 24 * 3600, 0: 24 * 3600}


@dataclass(frozen=True, slots=True)
class AlarmTrigger:
    """An event that a rule decided should open (or merge into) an alarm."""

    rule: str
    dedup_key: str
    source: str
    kind: str
    province: str
    ward: str | None
    severity: int
    title: str
    event_id: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class Rule:
    """Opens an alarm for events it matches; repeats with the same key merge."""

    name: str
    kinds: tuple[str, ...]
    title_vi: str
    title_en: str
    min_severity: int = 0
    key: Callable[[Event], str] = lambda e: e.source
    when: Callable[[Event], bool] = lambda e: True


def _opened(e: Event) -> bool:
    return e.attrs.get("state", "opened") == "opened"


RULES: tuple[Rule, ...] = (
    Rule("panic", ("transport.panic",), "Nút khẩn cấp trên xe", "Panic button on vehicle"),
    Rule(
        "overcrowding",
        ("transport.overcrowding",),
        "Xe quá đông",
        "Vehicle overcrowded",
    ),
    Rule(
        "onboard",
        ("transport.onboard_camera",),
        "Camera trên xe phát hiện sự việc",
        "On-board camera detection",
        min_severity=2,
        key=lambda e: f"{e.source}:{e.attrs.get('detection')}",
    ),
    Rule("fire", ("security.fire",), "Phát hiện cháy/khói", "Fire or smoke detected"),
    Rule(
        "security",
        (
            "security.fighting",
            "security.intrusion",
            "security.crowd",
            "security.loitering",
            "security.line_crossing",
        ),
        "Sự cố an ninh",
        "Security incident",
        min_severity=3,
        key=lambda e: f"{e.source}:{e.kind}",
    ),
    Rule(
        "watchlist",
        ("security.plate_read",),
        "Biển số trong danh sách theo dõi",
        "Watch-listed plate",
        when=lambda e: bool(e.attrs.get("watchlist")),
        key=lambda e: f"{e.source}:{e.attrs.get('plate')}",
    ),
    Rule(
        "camera_health",
        ("camera.offline", "camera.covered", "camera.frozen", "camera.scene_change"),
        "Camera gặp sự cố",
        "Camera fault",
        when=_opened,
        key=lambda e: f"{e.source}:{e.kind}",
    ),
    Rule(
        "cell_down",
        ("network.cell_down",),
        "Trạm phát sóng ngừng hoạt động",
        "Cell site down",
        key=lambda e: f"{e.attrs.get('operator')}:{e.attrs.get('cell')}",
    ),
    Rule(
        "coverage_gap",
        ("network.gap_opened",),
        "Thôn mất sóng di động",
        "Village lost mobile coverage",
        key=lambda e: f"{e.attrs.get('gap')}",
    ),
    Rule(
        "power_outage",
        ("power.outage_started",),
        "Mất điện khu dân cư",
        "Village power outage",
        key=lambda e: f"{e.attrs.get('outage')}",
    ),
    Rule(
        "sensor",
        ("sensor.alert",),
        "Cảm biến vượt ngưỡng",
        "Sensor threshold exceeded",
        when=_opened,
        key=lambda e: f"{e.source}:{e.attrs.get('metric')}",
    ),
)

_BY_KIND: dict[str, list[Rule]] = {}
for _rule in RULES:
    for _kind in _rule.kinds:
        _BY_KIND.setdefault(_kind, []).append(_rule)


def rule_named(name: str) -> Rule:
    """The rule with this name (KeyError if none)."""
    for rule in RULES:
        if rule.name == name:
            return rule
    raise KeyError(name)


def triggers_for(events: Iterable[Event]) -> list[AlarmTrigger]:
    """Alarm triggers for newly stored events, oldest first so merges keep order."""
    out = []
    for e in sorted(events, key=lambda e: e.ts):
        for rule in _BY_KIND.get(e.kind, ()):
            if e.severity < rule.min_severity or not rule.when(e):
                continue
            out.append(
                AlarmTrigger(
                    rule=rule.name,
                    dedup_key=f"{rule.name}:{e.province}:{rule.key(e)}",
                    source=e.source,
                    kind=e.kind,
                    province=e.province,
                    ward=e.ward,
                    severity=e.severity,
                    title=rule.title_vi,
                    event_id=e.id,
                    ts=e.ts,
                )
            )
    return out
