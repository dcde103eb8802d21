"""The feed file format: one JSON object per line, optionally gzip-compressed.

Line 1 may be a header (``{"feed": "ioc-feed", "version": 1, "start": ...}``); every
other line is one MQTT message: ``{"t": 12.5, "topic": ..., "qos": 1, "retain": false,
"payload": {...}}``. See sample_feeds/README.md for the full description.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FEED_MAGIC = "ioc-feed"
FEED_VERSION = 1
DEFAULT_TZ = "Asia/Ho_Chi_Minh"
DEFAULT_QOS = 1


class FeedError(ValueError):
    """A feed file that cannot be read; the message names the file and line."""


def dumps(obj: Any) -> str:
    """Compact JSON, UTF-8 kept as is: the canonical text of payloads and lines."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def encode_payload(payload: bytes) -> dict[str, Any]:
    """The line fields that carry these exact bytes: payload, payload_text or payload_b64."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return {"payload_b64": base64.b64encode(payload).decode("ascii")}
    try:
        obj = json.loads(text)
    except ValueError:
        return {"payload_text": text}
    # A JSON payload is stored as a value only if re-encoding gives back the same bytes,
    # so a recorded file replays byte for byte; otherwise keep the exact text.
    if dumps(obj) == text:
        return {"payload": obj}
    return {"payload_text": text}


def format_ts(value: datetime) -> str:
    """UTC ISO 8601 with a Z, as the Event model writes it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(value: str) -> datetime:
    """An ISO 8601 timestamp with an offset (or Z), as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class FeedHeader:
    """What line 1 says about the whole file; every field but the magic is optional."""

    start: datetime | None = None
    tz: str = DEFAULT_TZ
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The header line as a JSON object."""
        out: dict[str, Any] = {"feed": FEED_MAGIC, "version": FEED_VERSION}
        if self.start is not None:
            out["start"] = format_ts(self.start)
        out["tz"] = self.tz
        if self.duration_s is not None:
            out["duration_s"] = self.duration_s
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FeedHeader:
        """Read a header object (raises ValueError on a malformed one)."""
        if obj.get("feed") != FEED_MAGIC:
            raise ValueError(f"not an {FEED_MAGIC} header")
        version = obj.get("version", FEED_VERSION)
        if version != FEED_VERSION:
            raise ValueError(f"unsupported feed version {version!r} (this reader knows 1)")
        start = parse_ts(obj["start"]) if obj.get("start") else None
        duration = obj.get("duration_s")
        if duration is not None and (not isinstance(duration, int | float) or duration <= 0):
            raise ValueError(f"duration_s must be a positive number, got {duration!r}")
        known = {"feed", "version", "start", "tz", "duration_s"}
        return cls(
            start=start,
            tz=obj.get("tz") or DEFAULT_TZ,
            duration_s=float(duration) if duration is not None else None,
            extra={k: v for k, v in obj.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class FeedLine:
    """One MQTT message of a feed, at `offset` seconds after the feed start."""

    offset: float
    topic: str
    qos: int
    retain: bool
    obj: Any = None  # the JSON value, when the payload is JSON in canonical form
    raw: bytes | None = None  # the exact bytes otherwise

    @property
    def payload(self) -> bytes:
        """The bytes to publish."""
        if self.raw is not None:
            return self.raw
        return dumps(self.obj).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        """The line as a JSON object (offset rounded to the millisecond)."""
        out: dict[str, Any] = {
            "t": _round_offset(self.offset),
            "topic": self.topic,
            "qos": self.qos,
            "retain": self.retain,
        }
        if self.raw is not None:
            out.update(encode_payload(self.raw))
        else:
            out["payload"] = self.obj
        return out


def _round_offset(offset: float) -> float | int:
    value = round(offset, 3)
    return int(value) if value == int(value) else value


def _open_text(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        if "w" in mode:
            # mtime=0 and no file name in the gzip header keep generated files byte-stable.
            raw = open(path, "wb")  # closed by the wrapper
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9)
            return _ClosingTextWrapper(gz, raw)
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="\n")
    return open(path, mode, encoding="utf-8", newline="\n")


class _ClosingTextWrapper(io.TextIOWrapper):
    """A text wrapper over a GzipFile that also closes the underlying file object."""

    def __init__(self, gz: gzip.GzipFile, raw: IO[bytes]) -> None:
        super().__init__(gz, encoding="utf-8", newline="\n")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class FeedReader:
    """Streams the lines of one feed file; the header is read on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FeedError(f"{self.path}: no such file")
        self.header, self._first = self._read_header()

    def _read_header(self) -> tuple[FeedHeader, int]:
        if self.path.suffix == ".parquet":  # an archived day (sample_feeds/parquet.py)
            from sample_feeds.parquet import parquet_header

            return parquet_header(self.path), 0
        try:
            with _open_text(self.path, "r") as f:
                first = f.readline()
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise FeedError(f"{self.path}: cannot read: {exc}") from None
        if not first.strip():
            return FeedHeader(), 1
        try:
            obj = json.loads(first)
        except ValueError as exc:
            raise FeedError(f"{self.path}:1: malformed JSON: {exc}") from None
        if isinstance(obj, dict) and "feed" in obj:
            try:
                return FeedHeader.from_json(obj), 2
            except (ValueError, KeyError, TypeError) as exc:
                raise FeedError(f"{self.path}:1: bad header: {exc}") from None
        return FeedHeader(), 1

    def __iter__(self) -> Iterator[FeedLine]:
        """Yield the message lines in file order; offsets must not decrease."""
        return self.lines()

    def lines(self, skip_before: float = 0.0) -> Iterator[FeedLine]:
        """The message lines; before `skip_before` seconds only the retained ones.

        Skipping reads the offset and retain flag from the text, without decoding the
        payload, so starting a replay late in a day does not parse the whole morning.
        """
        if self.path.suffix == ".parquet":
            from sample_feeds.parquet import parquet_lines

            yield from parquet_lines(self.path, self.header.start, skip_before)
            return
        last = float("-inf")
        try:
            with _open_text(self.path, "r") as f:
                for number, text in enumerate(f, start=1):
                    if number < self._first or not text.strip():
                        continue
                    if skip_before > 0:
                        quick = _quick_offset(text)
                        if quick is not None and quick[0] < skip_before and not quick[1]:
                            if quick[0] < last:
                                self._disorder(number, quick[0], last)
                            last = quick[0]
                            continue
                    line = self._parse(text, number)
                    if line.offset < last:
                        self._disorder(number, line.offset, last)
                    last = line.offset
                    if line.offset >= skip_before or line.retain:
                        yield line
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise FeedError(f"{self.path}: cannot read: {exc}") from None

    def _disorder(self, number: int, offset: float, last: float) -> None:
        raise FeedError(
            f"{self.path}:{number}: offset {offset} is before the previous line's {last}; "
            "lines must be in time order"
        )

    def _parse(self, text: str, number: int) -> FeedLine:
        where = f"{self.path}:{number}"
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise FeedError(f"{where}: malformed JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise FeedError(f"{where}: a line must be a JSON object")
        try:
            return _line_from_json(obj, self.header.start)
        except (ValueError, TypeError, KeyError) as exc:
            raise FeedError(f"{where}: {exc}") from None


def _quick_offset(text: str) -> tuple[float, bool] | None:
    """(offset, retained) of a line in the layout FeedWriter writes, or None for others."""
    if not text.startswith('{"t":'):
        return None
    comma = text.find(",", 5)
    head_end = text.find('"payload')
    if comma < 0 or head_end < 0:
        return None
    try:
        offset = float(text[5:comma])
    except ValueError:
        return None
    head = text[comma:head_end]
    if '"retain":' not in head:
        return None
    return offset, '"retain":true' in head


def _line_from_json(obj: dict[str, Any], start: datetime | None) -> FeedLine:
    if "t" in obj:
        offset = obj["t"]
        if isinstance(offset, bool) or not isinstance(offset, int | float) or offset < 0:
            raise ValueError(f"t must be a number of seconds >= 0, got {offset!r}")
        offset = float(offset)
    elif "at" in obj:
        if start is None:
            raise ValueError("a line with 'at' needs a header with 'start'")
        offset = (parse_ts(obj["at"]) - start).total_seconds()
        if offset < 0:
            raise ValueError(f"at {obj['at']} is before the feed start")
    else:
        raise ValueError("a line needs 't' (seconds from the start) or 'at' (ISO time)")
    topic = obj.get("topic")
    if not isinstance(topic, str) or not topic or "+" in topic or "#" in topic:
        raise ValueError(f"topic must be a non-empty string without wildcards, got {topic!r}")
    qos = obj.get("qos", DEFAULT_QOS)
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        raise ValueError(f"qos must be 0, 1 or 2, got {qos!r}")
    retain = obj.get("retain", False)
    if not isinstance(retain, bool):
        raise ValueError(f"retain must be true or false, got {retain!r}")
    present = [k for k in ("payload", "payload_text", "payload_b64") if k in obj]
    if len(present) != 1:
        raise ValueError("a line needs exactly one of payload, payload_text, payload_b64")
    if "payload" in obj:
        return FeedLine(offset, topic, qos, retain, obj=obj["payload"])
    if "payload_text" in obj:
        if not isinstance(obj["payload_text"], str):
            raise ValueError("payload_text must be a string")
        raw = obj["payload_text"].encode("utf-8")
    else:
        raw = base64.b64decode(obj["payload_b64"], validate=True)
    return FeedLine(offset, topic, qos, retain, raw=raw)


class FeedWriter:
    """Writes a header and then message lines; `.gz` paths are gzip-compressed."""

    def __init__(self, path: str | Path, header: FeedHeader) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = _open_text(self.path, "w")
        self._f.write(dumps(header.to_json()) + "\n")
        self.count = 0

    def write(self, line: FeedLine) -> None:
        """Append one message line."""
        self._f.write(dumps(line.to_json()) + "\n")
        self.count += 1

    def flush(self) -> None:
        """Push buffered lines to the OS (a gzip stream stays readable up to here)."""
        self._f.flush()

    def close(self) -> None:
        """Finish the file (writes the gzip trailer)."""
        self._f.close()

    def __enter__(self) -> FeedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_lines(path: str | Path) -> list[FeedLine]:
    """All message lines of a feed (for tests and small files)."""
    return list(FeedReader(path))


def local_offset(header: FeedHeader, hhmm: str) -> float:
    """Seconds from the feed start to the first HH:MM (feed time zone) at or after it."""
    if header.start is None:
        raise FeedError("--from/--until need a feed whose header gives its start time")
    try:
        hours, minutes = (int(p) for p in hhmm.split(":"))
    except ValueError:
        raise FeedError(f"expected HH:MM, got {hhmm!r}") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise FeedError(f"expected HH:MM between 00:00 and 24:00, got {hhmm!r}")
    local_start = header.start.astimezone(feed_zone(header.tz))
    midnight = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    target = midnight + timedelta(hours=hours, minutes=minutes)
    offset = (target - local_start).total_seconds()
    # A time of day earlier than the feed start means that time on the next day.
    return offset if offset >= 0 else offset + 86400


def feed_zone(name: str) -> tzinfo:
    """The feed's time zone; Vietnam's fixed +07:00 if tz data is missing."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone(timedelta(hours=7))
