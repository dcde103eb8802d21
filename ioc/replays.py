"""Status records of running `ioc replay` processes, so the Replay page sees every replay.

Every `ioc replay` writes data_dir/replays/live/<pid>.json while it runs (a heartbeat:
feed, speed, window, messages and feed time played) and removes it when it ends. A record
counts only while its process is alive and is the same process: same pid, same start time
in /proc (a pid can be reused) and `replay` on its command line. A replay killed with -9
leaves its record behind; readers skip it and clear it away.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LIVE_DIR = Path("replays") / "live"
HEARTBEAT_S = 1.0
_RECORD = re.compile(r"^(\d{1,10})\.json$")


@dataclass
class ReplayStatus:
    """One running replay as its own process reports it."""

    pid: int
    proc_start: str
    feed: str  # file name only: shown, never opened
    province: str | None
    speed: str
    loop: bool
    rebase: bool
    start: str | None
    until: str | None
    started_at: str
    updated_at: str
    messages: int = 0
    feed_seconds: float = 0.0
    loops: int = 0
    # IOC_REPLAY_RUN: set when the Replay page started this process, None otherwise.
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def started(self) -> datetime:
        """Start time (UTC)."""
        return datetime.fromisoformat(self.started_at)


def live_dir(data_dir: Path) -> Path:
    """Where running replays keep their records."""
    return Path(data_dir) / LIVE_DIR


def read_header(path: Path) -> dict[str, Any]:
    """A feed file's header object (line 1), or {} when it has none or cannot be read."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            first = f.readline(1_000_000)
        obj = json.loads(first)
    except (OSError, ValueError, EOFError):
        return {}
    return obj if isinstance(obj, dict) and obj.get("feed") == "ioc-feed" else {}


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b") ", 1)[-1].split()
    except OSError:
        return None
    # After the command name: state is field 3, starttime field 22.
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return fields[19].decode()


def is_alive(status: ReplayStatus) -> bool:
    """True while the record's own process runs (not a zombie, not a reused pid)."""
    if process_start(status.pid) != status.proc_start:
        return False
    try:
        with open(f"/proc/{status.pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return b"replay" in argv


class StatusWriter:
    """Writes this process's record: at start, at most every HEARTBEAT_S, removed at the end."""

    def __init__(
        self,
        data_dir: Path,
        feed: Path,
        *,
        speed: str,
        loop: bool,
        rebase: bool,
        start: str | None,
        until: str | None,
    ) -> None:
        pid = os.getpid()
        self.path = live_dir(data_dir) / f"{pid}.json"
        now = datetime.now(UTC).isoformat()
        province = read_header(feed).get("province")
        self.status = ReplayStatus(
            pid=pid,
            proc_start=process_start(pid) or "",
            feed=feed.name,
            province=str(province) if province else None,
            speed=speed,
            loop=loop,
            rebase=rebase,
            start=start,
            until=until,
            started_at=now,
            updated_at=now,
            run_id=os.environ.get("IOC_REPLAY_RUN") or None,
        )
        self._next = 0.0
        self._write()

    def _write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self.status)))
            tmp.replace(self.path)
        except OSError as exc:  # a read-only data dir must not stop the replay
            logger.warning("cannot write replay status %s: %s", self.path, exc)

    def progress(self, messages: int, feed_seconds: float, loops: int) -> None:
        """Record progress; writes at most once per HEARTBEAT_S."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + HEARTBEAT_S
        self.status.messages = messages
        self.status.feed_seconds = round(feed_seconds, 3)
        self.status.loops = loops
        self.status.updated_at = datetime.now(UTC).isoformat()
        self._write()

    def close(self) -> None:
        """The replay ended: its record goes."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _well_formed(s: ReplayStatus) -> bool:
    numbers = (s.messages, s.loops, s.feed_seconds)
    texts = (s.proc_start, s.feed, s.speed, s.started_at)
    try:
        datetime.fromisoformat(s.started_at)
    except (TypeError, ValueError):
        return False
    return (
        type(s.pid) is int
        and all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
        and all(isinstance(x, str) for x in texts)
        and all(x is None or isinstance(x, str) for x in (s.province, s.start, s.until, s.run_id))
    )


def running_replays(data_dir: Path) -> list[ReplayStatus]:
    """Replays running now on this data directory, oldest first; dead records are cleared."""
    folder = live_dir(data_dir)
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:
        return []
    out = []
    for name in names:
        if not _RECORD.match(name):
            continue
        path = folder / name
        try:
            status = ReplayStatus(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if not _well_formed(status) or status.pid != int(name.split(".")[0]):
            continue
        if is_alive(status):
            out.append(status)
        else:
            path.unlink(missing_ok=True)
    return sorted(out, key=lambda s: s.started_at)
