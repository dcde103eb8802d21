"""Debounced on/off conditions: a raw signal becomes opened/closed transitions.

A condition opens only after its signal has been active for `open_after_s` and
closes only after it has been inactive for `close_after_s`, so a flickering
signal gives one alarm, not a storm. Thresholds get hysteresis from the caller,
which asks `is_open` to pick the open or the close threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["opened", "closed"]


@dataclass(slots=True)
class Transition:
    """A debounced change; `t` is when the signal began the new state (its onset)."""

    state: State
    t: float


@dataclass(slots=True)
class Debounced:
    """One condition's state machine over a monotonic time in seconds."""

    open_after_s: float
    close_after_s: float
    is_open: bool = False
    opened_at: float | None = None
    # Onset of the current contrary run: active while closed, inactive while open.
    _since: float | None = field(default=None, repr=False)

    def update(self, t: float, active: bool) -> Transition | None:
        """Feed the raw signal at time t; returns a transition when one is confirmed."""
        if active == self.is_open:
            self._since = None
            return None
        if self._since is None:
            self._since = t
        hold = self.close_after_s if self.is_open else self.open_after_s
        if t - self._since < hold:
            return None
        onset, self._since = self._since, None
        self.is_open = not self.is_open
        self.opened_at = onset if self.is_open else None
        return Transition("opened" if self.is_open else "closed", onset)

    @property
    def pending(self) -> bool:
        """True while the signal disagrees with the state but has not yet held long enough."""
        return self._since is not None

    def reset(self) -> None:
        """Forget a pending change (the signal could not be judged on this frame)."""
        self._since = None

    def force_close(self, t: float) -> Transition | None:
        """Close now (e.g. a higher-priority fault makes this one meaningless)."""
        self._since = None
        if not self.is_open:
            return None
        self.is_open = False
        self.opened_at = None
        return Transition("closed", t)
