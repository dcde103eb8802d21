"""Start, watch and stop `ioc replay` subprocesses for the replay page.

The dashboard never imports sample_feeds: it lists feed files, reads their documented
header line (`{"feed": "ioc-feed", ...}`) and runs the `ioc replay` command. State is
a JSON file in data_dir/replays, so every gunicorn worker sees the same replay.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ioc.replays import ReplayStatus, read_header, running_replays

logger = logging.getLogger(__name__)

FEED_SUFFIXES = (".jsonl", ".jsonl.gz")
STATE_FILE = "current.json"
LOG_TAIL_BYTES = 6000
_lock = threading.Lock()


class ReplayError(Exception):
    """The replay cannot start or stop; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed file and what its header says."""

    path: Path
    name: str
    size: int
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def province(self) -> str | None:
        """The province the feed covers, if the header says."""
        value = self.header.get("province")
        return str(value) if value else None

    @property
    def duration_s(self) -> float | None:
        """Feed length in seconds, if the header says."""
        value = self.header.get("duration_s")
        return float(value) if isinstance(value, int | float) else None


@dataclass
class ReplayRun:
    """One replay started from the page."""

    id: str
    pid: int
    feed: str
    feed_name: str
    speed: str
    start: str | None
    until: str | None
    loop: bool
    rebase: bool
    started_at: str
    started_by: str
    log: str
    window_s: float | None
    exit_code: int | None = None
    stopped_by: str | None = None
    ended_at: str | None = None
    # The feed's province: a province-scoped engineer sees and stops only their own runs.
    province: str | None = None

    @property
    def started(self) -> datetime:
        """Start time (UTC)."""
        return datetime.fromisoformat(self.started_at)


def feed_dirs(data_dir: Path) -> list[Path]:
    """Where feeds are looked for: the sample_feeds package data and data_dir/feeds."""
    dirs = []
    spec = find_spec("sample_feeds")  # locates the package without running its code
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            dirs += [Path(loc), Path(loc) / "data"]
    dirs.append(data_dir / "feeds")
    return [d for d in dirs if d.is_dir()]


def list_feeds(data_dir: Path) -> list[Feed]:
    """Feed files found, by name."""
    seen: dict[str, Feed] = {}
    for folder in feed_dirs(data_dir):
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name.endswith(FEED_SUFFIXES) and path.name not in seen:
                seen[path.name] = Feed(
                    path.resolve(), path.name, path.stat().st_size, read_header(path)
                )
    return sorted(seen.values(), key=lambda f: f.name)


def parse_hhmm(value: str | None) -> str | None:
    """A valid HH:MM, or None for empty; ValueError otherwise."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    hh, sep, mm = text.partition(":")
    if not sep or not (hh.isdigit() and mm.isdigit()) or int(hh) > 23 or int(mm) > 59:
        raise ValueError(f"expected HH:MM, got {text!r}")
    return f"{int(hh):02d}:{int(mm):02d}"


def window_seconds(feed: Feed, start: str | None, until: str | None) -> float | None:
    """Length of the chosen window of feed time (None when unknown)."""
    total = feed.duration_s
    if start is None and until is None:
        return total
    lo = _minutes(start) * 60 if start else 0.0
    hi = _minutes(until) * 60 if until else (total if total is not None else None)
    if hi is None:
        return None
    if hi <= lo:
        hi += 86400.0
    return hi - lo


def _minutes(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 60 + int(mm)


class ReplayManager:
    """Runs at most one replay at a time for this data directory."""

    def __init__(self, state_dir: Path, *, db_url: str, mqtt_url: str, data_dir: Path) -> None:
        self.state_dir = state_dir
        self.db_url = db_url
        self.mqtt_url = mqtt_url
        self.data_dir = data_dir

    # --- state ---------------------------------------------------------------------------

    def _state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    def current(self) -> ReplayRun | None:
        """The latest replay started here (running or not)."""
        try:
            data = json.loads(self._state_path().read_text())
            return ReplayRun(**data)
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, run: ReplayRun) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path().with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(run)))
        tmp.replace(self._state_path())

    def others(self) -> list[ReplayStatus]:
        """Replays running on this data directory that this page did not start (ioc demo's)."""
        run = self.current()
        mine = run.id if run is not None and self.is_running(run) else None
        return [s for s in running_replays(self.data_dir) if s.run_id is None or s.run_id != mine]

    def is_running(self, run: ReplayRun | None) -> bool:
        """True while the run's process is alive (and really is our replay)."""
        if run is None or run.exit_code is not None:
            return False
        return _is_our_replay(run.pid, run.id)

    # --- control ---------------------------------------------------------------------------

    def start(
        self,
        feed: Feed,
        *,
        speed: str,
        start: str | None,
        until: str | None,
        loop: bool,
        rebase: bool,
        user: str,
    ) -> ReplayRun:
        """Start `ioc replay` into the configured broker."""
        if self.mqtt_url == "embedded" or not self.mqtt_url:
            raise ReplayError(
                "no broker address: start the web app with --mqtt-url (ioc demo does)"
            )
        if speed != "max":
            try:
                if float(speed) <= 0:
                    raise ValueError
            except ValueError:
                raise ReplayError(f"bad speed {speed!r}") from None
        with _lock:
            if self.is_running(self.current()):
                raise ReplayError("a replay is already running; stop it first")
            run_id = uuid.uuid4().hex[:12]
            self.state_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.state_dir / f"{run_id}.log"
            cmd = [
                sys.executable,
                "-m",
                "ioc",
                "--db-url",
                self.db_url,
                "--mqtt-url",
                self.mqtt_url,
                "--data-dir",
                str(self.data_dir),
                "replay",
                "--speed",
                speed,
                "--json",
            ]
            if loop:
                cmd.append("--loop")
            if rebase:
                cmd.append("--rebase-time")
            if start:
                cmd += ["--from", start]
            if until:
                cmd += ["--until", until]
            cmd.append(str(feed.path))
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "IOC_REPLAY_RUN": run_id}
            with open(log_path, "ab") as log:
                log.write(f"$ ioc replay {' '.join(cmd[cmd.index('replay') + 1 :])}\n".encode())
                log.flush()
                # Own session: a stop signal reaches the replay, not the web server.
                proc = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            run = ReplayRun(
                id=run_id,
                pid=proc.pid,
                feed=str(feed.path),
                feed_name=feed.name,
                province=feed.province,
                speed=speed,
                start=start,
                until=until,
                loop=loop,
                rebase=rebase,
                started_at=datetime.now(UTC).isoformat(),
                started_by=user,
                log=str(log_path),
                window_s=window_seconds(feed, start, until),
            )
            self._save(run)
        threading.Thread(
            target=self._reap, args=(proc, run_id), daemon=True, name=f"replay-{run_id}"
        ).start()
        return run

    def _reap(self, proc: subprocess.Popen[bytes], run_id: str) -> None:
        code = proc.wait()
        with _lock:
            run = self.current()
            if run is not None and run.id == run_id:
                run.exit_code = code
                run.ended_at = datetime.now(UTC).isoformat()
                self._save(run)

    def stop(self, user: str, timeout: float = 10.0) -> ReplayRun | None:
        """Ask the running replay to stop (SIGTERM: it finishes cleanly and prints a summary)."""
        run = self.current()
        if not self.is_running(run):
            return run
        assert run is not None
        run.stopped_by = user
        self._save(run)
        try:
            os.kill(run.pid, signal.SIGTERM)
        except ProcessLookupError:
            return run
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _is_our_replay(run.pid, run.id):
            time.sleep(0.1)
        if _is_our_replay(run.pid, run.id):
            os.kill(run.pid, signal.SIGKILL)
        return self.current()

    def log_tail(self, run: ReplayRun) -> str:
        """The end of the run's output."""
        try:
            with open(run.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - LOG_TAIL_BYTES))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def _is_our_replay(pid: int, run_id: str) -> bool:
    # A pid can be reused: only a live, non-zombie process carrying our run id counts.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().split(b") ", 1)[-1][:1] == b"Z":
                return False
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"IOC_REPLAY_RUN={run_id}".encode() in f.read().split(b"\0")
    except OSError:
        return False
