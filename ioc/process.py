"""Process helpers shared by long-running commands."""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl+C, so `finally` blocks stop children and brokers."""
    signal.signal(signal.SIGTERM, _interrupt)
