"""CPU time of the processes a benchmark involves, read from /proc (Linux).

A meter samples user + system time of a set of pids at the start and the end of a
phase; pids that appear in between count from zero, pids that exit in between lose
what they used since the start (the bench keeps its processes alive to the end).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads); None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces.
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) * TICK_S


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


class CpuMeter:
    """CPU seconds used by a changing set of pids between start() and stop()."""

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        self._pids = pids
        self._start: dict[int, float] = {}
        self.seconds: float | None = None

    def start(self) -> CpuMeter:
        """Sample every pid now."""
        self._start = _sample(self._pids())
        return self

    def stop(self) -> float | None:
        """Sample again; the CPU seconds used since start(), None if there was no process."""
        end = _sample(set(self._pids()) | set(self._start))
        if not end and not self._start:
            self.seconds = None
        else:
            self.seconds = sum(v - self._start.get(pid, 0.0) for pid, v in end.items())
        return self.seconds


def _sample(pids: Iterable[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        value = cpu_seconds(pid)
        if value is not None:
            out[pid] = value
    return out


def per_message_us(seconds: float | None, messages: int) -> float | None:
    """CPU microseconds per message, None when unmeasured or nothing was stored."""
    if seconds is None or messages <= 0:
        return None
    return round(seconds * 1e6 / messages, 1)
