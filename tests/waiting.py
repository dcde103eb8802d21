"""Polling waits for tests: wait for the condition itself, never for a guessed duration."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 20.0


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.1,
    message: str | Callable[[], str] = "condition",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll predicate() until it returns a truthy value and return that value.

    Fails with an AssertionError naming `message` (a string, or a callable giving the
    current state) and the last value seen once `timeout` seconds have passed. Exceptions
    of the types in `ignore` count as "not yet" (e.g. a DOM element re-rendered under us).
    The timeout is a bound on a hang, not a measurement: a passing test never reaches it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            last: object = predicate()
        except ignore as exc:
            last = exc
        else:
            if last:
                return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)
