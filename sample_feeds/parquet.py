"""Archived days (ioc/archive.py Parquet files) read as feeds, so `ioc replay` plays them.

Each row becomes the message its event was published as: the event's topic, QoS 1, the
event's wire JSON. A file holds one UTC day; its feed starts at that midnight, so the
files of several kinds of one day replay side by side in their true timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from ioc.archive import ArchiveError, read_rows
from ioc.events import TOPIC_PREFIX, Event
from sample_feeds.feedfile import DEFAULT_QOS, FeedError, FeedHeader, FeedLine, format_ts

_PAYLOAD = ("id", "ts", "source", "kind", "severity", "province", "ward", "lat", "lon", "attrs")


def is_parquet(path: Path) -> bool:
    """True for an archive file."""
    return path.suffix == ".parquet"


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        yield from read_rows(path)
    except ArchiveError as exc:
        raise FeedError(str(exc)) from None


def parquet_header(path: Path) -> FeedHeader:
    """A header starting at the UTC midnight of the file's first event."""
    for row in _rows(path):
        start = datetime.combine(row["ts"].astimezone(UTC).date(), time(), tzinfo=UTC)
        return FeedHeader(start=start, tz="UTC", extra={"archive": path.name})
    return FeedHeader()


def parquet_lines(
    path: Path, start: datetime | None, skip_before: float = 0.0
) -> Iterator[FeedLine]:
    """One feed line per archived event, in time order."""
    for row in _rows(path):
        fields = {k: row[k] for k in _PAYLOAD if row.get(k) is not None}
        offset = (row["ts"] - start).total_seconds() if start is not None else 0.0
        if offset < skip_before:
            continue
        topic = Event.model_construct(**fields).topic(TOPIC_PREFIX)
        yield FeedLine(
            offset, topic, DEFAULT_QOS, False, obj={**fields, "ts": format_ts(row["ts"])}
        )
