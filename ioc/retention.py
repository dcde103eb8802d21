"""Retention per event kind: the policy read from IOC_RETENTION and what it keeps.

The policy names a number of days per kind and a default for the rest. Cutoffs fall on
UTC midnights, so a day is kept or dropped whole (one TimescaleDB chunk, one archive file).
KPI state, alarms, audit and users are never subject to retention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ioc.events import KIND_ATTRS

# High-volume kinds whose value is in the KPI state, not in each row, go after a month;
# incidents and everything else stay ten years (alarms, audit and KPI state are never dropped).
DEFAULT_RETENTION = "transport.position=30d,network.signal_sample=30d,default=3650d"
DEFAULT_RETENTION_INTERVAL_S = 3600
_DAYS = re.compile(r"^([1-9][0-9]{0,5})d$")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days kept per kind; kinds not named keep default_days."""

    default_days: int
    per_kind: dict[str, int] = field(default_factory=dict)

    def days(self, kind: str) -> int:
        """Days a kind is kept."""
        return self.per_kind.get(kind, self.default_days)

    @property
    def longest_days(self) -> int:
        """The longest retention of any kind: older days are dropped whole."""
        return max([self.default_days, *self.per_kind.values()])

    def cutoff(self, kind: str | None, now: datetime) -> datetime:
        """Events of kind (None: every kind) before this UTC midnight are dropped."""
        days = self.longest_days if kind is None else self.days(kind)
        return day_start(now.astimezone(UTC).date() - timedelta(days=days))

    def describe(self) -> str:
        """The policy in IOC_RETENTION syntax."""
        parts = [f"{k}={d}d" for k, d in sorted(self.per_kind.items())]
        return ",".join([*parts, f"default={self.default_days}d"])


def day_start(day: date) -> datetime:
    """UTC midnight opening day."""
    return datetime.combine(day, time(), tzinfo=UTC)


def parse_retention(text: str) -> RetentionPolicy:
    """'kind=30d,...,default=3650d' as a policy; ValueError naming the bad part."""
    per_kind: dict[str, int] = {}
    default: int | None = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep:
            raise ValueError(f"{part!r} is not kind=NNd")
        match = _DAYS.match(value)
        if match is None:
            raise ValueError(f"{part!r}: retention must be a whole number of days, e.g. 30d")
        days = int(match.group(1))
        if key == "default":
            default = days
        elif key in KIND_ATTRS:
            if key in per_kind:
                raise ValueError(f"{key} is named twice")
            per_kind[key] = days
        else:
            raise ValueError(f"unknown kind {key!r} (see ioc/events.py KIND_ATTRS, or 'default')")
    if default is None:
        raise ValueError("name a default, e.g. default=3650d")
    return RetentionPolicy(default, per_kind)


@dataclass(frozen=True, slots=True)
class DropUnit:
    """The events of one kind on one UTC day that the policy drops."""

    kind: str
    day: date
    rows: int
    first_ts: datetime
    last_ts: datetime
    # "chunk": the whole day is older than every retention (TimescaleDB drops its chunk);
    # "delete": rows of this kind only, deleted in batches.
    how: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "day": self.day.isoformat(),
            "rows": self.rows,
            "first_ts": self.first_ts.isoformat(),
            "last_ts": self.last_ts.isoformat(),
            "how": self.how,
        }


@dataclass(slots=True)
class RetentionReport:
    """What a plan would drop, or what an apply dropped and archived."""

    policy: str
    now: datetime
    units: list[DropUnit] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)  # TimescaleDB chunks wholly dropped
    applied: bool = False
    dropped: int = 0
    archived: list[str] = field(default_factory=list)  # Parquet files written
    skipped: list[str] = field(default_factory=list)  # units left for the next run, and why

    @property
    def rows(self) -> int:
        """Rows the plan drops."""
        return sum(u.rows for u in self.units)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "policy": self.policy,
            "now": self.now.isoformat(),
            "applied": self.applied,
            "rows": self.rows,
            "dropped": self.dropped,
            "units": [u.as_dict() for u in self.units],
            "chunks": self.chunks,
            "archived": self.archived,
            "skipped": self.skipped,
        }
