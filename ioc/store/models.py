"""Plain records the store returns; nothing here touches a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ioc.alarms import AlarmTrigger

__all__ = ["AlarmTrigger"]  # defined with the alarm rules, below the store

ROLES = ("operator", "leader", "engineer", "admin")
ALARM_STATES = ("open", "acknowledged", "resolved")
ALARM_ACTIONS = ("opened", "merged", "acknowledge", "assign", "comment", "resolve")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not become an event, kept with its reason."""

    topic: str
    payload: bytes
    reason: str
    worker: str | None = None
    received_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch did."""

    inserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    # Dead letters already stored from an earlier delivery of the same topic and payload.
    dead_letter_duplicates: int = 0
    statuses: int = 0
    alarms_opened: int = 0


@dataclass(frozen=True, slots=True)
class Device:
    """Latest known state of a device, from its events and its retained status."""

    source: str
    province: str
    ward: str | None
    domain: str | None
    name: str | None
    lat: float | None
    lon: float | None
    status: str | None
    status_ts: datetime | None
    last_ts: datetime | None
    last_kind: str | None
    last_severity: int | None
    last_event_id: str | None
    last_attrs: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm and where it stands in its lifecycle."""

    id: int
    rule: str
    dedup_key: str
    source: str
    kind: str
    province: str
    ward: str | None
    severity: int
    title: str
    state: str
    opened_at: datetime
    last_event_at: datetime
    event_count: int
    first_event_id: str
    last_event_id: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assigned_to: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


@dataclass(frozen=True, slots=True)
class AlarmAction:
    """One entry of an alarm's action log."""

    id: int
    alarm_id: int
    ts: datetime
    actor: str
    action: str
    note: str | None
    assigned_to: str | None


@dataclass(frozen=True, slots=True)
class User:
    """An account; password_hash is never a password."""

    username: str
    password_hash: str
    role: str
    province: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One append-only audit record."""

    id: int
    ts: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any] = field(default_factory=dict)
    province: str | None = None  # the province the action concerns; None is national


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """Counters an ingest worker reports, readable by the dashboard."""

    worker_id: str
    started_at: datetime
    heartbeat_at: datetime
    received: int = 0
    written: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    store_errors: int = 0
    queue_depth: int = 0
    last_event_ts: datetime | None = None
