"""Inspect and validate feed files: counts per kind, span, and model validation of every message."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ioc.events import TOPIC_PREFIX, InvalidMessage, is_status_topic, parse_event, parse_status
from sample_feeds.feedfile import FeedHeader, FeedReader
from sample_feeds.replay import KindFilter


@dataclass
class FeedStats:
    """What a feed file holds."""

    path: Path
    header: FeedHeader
    messages: int = 0
    retained: int = 0
    first_offset: float = 0.0
    last_offset: float = 0.0
    file_bytes: int = 0
    payload_bytes: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    sources: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable form."""
        return {
            "path": str(self.path),
            "start": self.header.to_json().get("start"),
            "duration_s": self.header.duration_s,
            "messages": self.messages,
            "retained": self.retained,
            "sources": self.sources,
            "first_offset": self.first_offset,
            "last_offset": self.last_offset,
            "file_bytes": self.file_bytes,
            "payload_bytes": self.payload_bytes,
            "counts": dict(sorted(self.counts.items())),
        }

    def report(self) -> str:
        """Human-readable form."""
        head = self.header.to_json()
        lines = [
            f"{self.path}: {self.messages:,} messages from {self.sources:,} sources, "
            f"{self.file_bytes / 1e6:.2f} MB on disk ({self.payload_bytes / 1e6:.1f} MB of payloads)",
            f"  start {head.get('start', '?')} ({self.header.tz}), offsets "
            f"{self.first_offset:,.0f}-{self.last_offset:,.0f} s, {self.retained:,} retained",
        ]
        if "province" in head:
            lines.append(
                f"  province {head['province']} {head.get('province_name', '')}, "
                f"synthetic={head.get('synthetic')}, seed={head.get('seed')}"
            )
        width = max((len(k) for k in self.counts), default=0)
        lines += [f"  {kind:<{width}} {n:>9,}" for kind, n in sorted(self.counts.items())]
        return "\n".join(lines)


def feed_stats(path: str | Path, prefix: str = TOPIC_PREFIX) -> FeedStats:
    """Read a whole feed and count what it holds."""
    reader = FeedReader(path)
    stats = FeedStats(Path(path), reader.header, file_bytes=Path(path).stat().st_size)
    kinds = KindFilter(None, prefix)
    sources: set[str] = set()
    for n, line in enumerate(reader):
        if n == 0:
            stats.first_offset = line.offset
        stats.last_offset = line.offset
        stats.messages += 1
        stats.retained += line.retain
        stats.payload_bytes += len(line.payload)
        stats.counts[kinds.kind_of(line.topic)] += 1
        sources.add(
            line.topic.rsplit("/", 2)[-2]
            if not is_status_topic(line.topic, prefix)
            else line.topic.rsplit("/", 1)[-1]
        )
    stats.sources = len(sources)
    return stats


@dataclass
class Validation:
    """Result of validating every message of a feed."""

    valid: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)


def validate_feed(
    path: str | Path, *, max_errors: int = 20, prefix: str = TOPIC_PREFIX
) -> Validation:
    """Check every message: events against Event and their topic, statuses against DeviceStatus."""
    result = Validation()
    for n, line in enumerate(FeedReader(path), start=1):
        try:
            if is_status_topic(line.topic, prefix):
                parse_status(line.payload, line.topic, prefix=prefix)
            else:
                parse_event(line.payload, line.topic, prefix=prefix)
        except InvalidMessage as exc:
            result.invalid += 1
            if len(result.errors) < max_errors:
                result.errors.append(f"message {n} ({line.topic}): {exc.reason}")
            continue
        result.valid += 1
    return result
