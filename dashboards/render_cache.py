"""Render once, serve many: answers keyed by what they depend on, shared across sessions.

A live-page answer depends only on (what, scope, filters, data version, language).
The scope is part of every key, and it comes from `scope(user, ...)`, after the
permission check: a cached answer for province A can only be found by a request
already allowed to see A. Keys hold no user name, so two operators of the same
province with the same filters share one answer, computed once per data change.

`RenderCache.get(key, build)` is single-flight: while one thread builds an answer the
others asking for the same key wait for it instead of building it again. Entries
expire after `ttl` seconds even when their version did not move (late events, clocks),
and the cache holds at most `size` entries (least recently used go first).

The same class with a short ttl shares cheap lookups among the requests of one
second (the data version, the signed-in user of a session).

One cache per process (gunicorn worker). Workers do not share it: each computes an
answer once per data change, so N workers cost N renders, not N x sessions.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_SIZE = 512
DEFAULT_TTL_S = 30.0
_MISSING = object()


class _Slot:
    __slots__ = ("done", "error", "expires", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.expires = 0.0


class RenderCache:
    """A small thread-safe LRU with per-entry expiry and single-flight builds."""

    def __init__(self, size: int = DEFAULT_SIZE, ttl: float = DEFAULT_TTL_S) -> None:
        self.size = size
        self.ttl = ttl
        self._lock = threading.Lock()
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self._last: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.stale = 0

    def get(
        self,
        key: Hashable,
        build: Callable[[], T],
        ttl: float | None = None,
        view: Hashable | None = None,
    ) -> T:
        """The cached value of key, else build() once (concurrent askers wait for it).

        With `view` (the key without its data version): while the answer for a new version
        is being built, other askers get the last answer built for the same view at once
        instead of waiting (stale while revalidate). Such values must carry their own
        version, so the page asks again on its next tick.
        """
        now = time.monotonic()
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and (not slot.done.is_set() or slot.expires > now):
                self._slots.move_to_end(key)
                self.hits += 1
                owner = False
            else:
                slot = _Slot()
                self._slots[key] = slot
                self._slots.move_to_end(key)
                while len(self._slots) > self.size:
                    self._slots.popitem(last=False)
                self.misses += 1
                owner = True
        if not owner:
            if view is not None and not slot.done.is_set():
                with self._lock:
                    previous = self._last.get(view, _MISSING)
                if previous is not _MISSING:
                    self.stale += 1
                    return previous  # type: ignore[return-value]
            slot.done.wait()
            if slot.error is not None:
                raise slot.error
            return slot.value
        try:
            slot.value = build()
            if view is not None:
                # Before the slot is marked done: no asker can hold a newer answer than this.
                with self._lock:
                    self._last[view] = slot.value
                    self._last.move_to_end(view)
                    while len(self._last) > self.size:
                        self._last.popitem(last=False)
        except BaseException as exc:
            slot.error = exc
            with self._lock:
                if self._slots.get(key) is slot:
                    del self._slots[key]  # failures are not cached
            raise
        finally:
            slot.expires = time.monotonic() + (self.ttl if ttl is None else ttl)
            slot.done.set()
        return slot.value

    def drop(self, predicate: Callable[[Hashable], bool]) -> int:
        """Forget the entries whose key matches; how many."""
        with self._lock:
            keys = [k for k in self._slots if predicate(k)]
            for k in keys:
                del self._slots[k]
        return len(keys)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._slots.clear()
            self._last.clear()

    def __len__(self) -> int:
        return len(self._slots)
