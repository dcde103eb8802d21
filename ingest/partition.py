"""Partitioned ingest: N workers, each with plain persistent subscriptions to its provinces.

Mosquitto 2.0 does not restore shared subscriptions after a restart (docs/broker.md
measured 15,659 of 20,000 lost), but it does restore plain ones. So `--workers N`
splits the topic space instead of sharing a subscription:

- the 34 province codes, sorted, are dealt round-robin: code k goes to worker
  (k mod N) + 1, so a code's owner depends only on N;
- worker i > 1 subscribes to `{prefix}/{code}/#` for each of its codes;
- worker 1 subscribes to the catch-all `{prefix}/#` so that topics with an unknown
  or malformed province still reach a worker and become dead letters; it acks
  without storing what a known code owned by another worker (that worker's own
  session gets its copy), so every message is stored by exactly one worker.

Each worker's client id encodes (i, N): `NAME-IofN` (one worker keeps `NAME-1`), so
changing N creates new sessions and leaves the old ones to be drained, never
reinterpreted with a different share.
"""

from __future__ import annotations

from functools import cache

from ioc.geo import geography


@cache
def province_codes() -> tuple[str, ...]:
    """Every province code, sorted: the order partitions are dealt in."""
    return tuple(sorted(geography().provinces))


def share(index: int, workers: int) -> tuple[str, ...]:
    """The province codes worker `index` (1-based) of `workers` stores."""
    if not 1 <= index <= workers:
        raise ValueError(f"worker {index} of {workers}: index must be 1..{workers}")
    return tuple(c for k, c in enumerate(province_codes()) if k % workers == index - 1)


def client_id(name: str, index: int, workers: int) -> str:
    """The fixed MQTT client id of worker `index` of a `workers`-worker layout."""
    # One worker keeps the id it always had, so an existing single-worker session resumes.
    return f"{name}-{index}" if workers == 1 else f"{name}-{index}of{workers}"


def topic_filters(prefix: str, index: int, workers: int) -> list[str]:
    """The plain subscriptions of worker `index` of `workers`."""
    if workers == 1 or index == 1:
        return [f"{prefix}/#"]
    return [f"{prefix}/{code}/#" for code in share(index, workers)]


class Owner:
    """Answers, for the catch-all worker, whether another partition stores a topic."""

    def __init__(self, prefix: str, index: int, workers: int) -> None:
        self._prefix = prefix.encode() + b"/"
        mine = set(share(index, workers)) if workers > 1 else set(province_codes())
        self._elsewhere = {c.encode() for c in province_codes()} - {c.encode() for c in mine}

    def elsewhere(self, topic: bytes) -> bool:
        """True if the topic's province is a known code owned by another worker."""
        if not self._elsewhere or not topic.startswith(self._prefix):
            return False
        province = topic[len(self._prefix) :].split(b"/", 1)[0]
        return province in self._elsewhere
