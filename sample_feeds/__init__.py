"""Sample feeds: a deterministic generator of provincial IOC days, the committed feeds,
and replay/record through MQTT (`sample_feeds.replay.replay`, `sample_feeds.record.record`)."""

from __future__ import annotations

from pathlib import Path

FEED_DIR = Path(__file__).resolve().parent
# The committed 24-hour feeds, by province code (see README.md).
COMMITTED_FEEDS: dict[str, Path] = {
    "68": FEED_DIR / "lam-dong-68.jsonl.gz",
    "46": FEED_DIR / "hue-46.jsonl.gz",
}


def committed_feed(province: str) -> Path:
    """The committed feed of a province (68 Lâm Đồng or 46 Huế)."""
    try:
        return COMMITTED_FEEDS[province.zfill(2)]
    except KeyError:
        known = ", ".join(sorted(COMMITTED_FEEDS))
        raise KeyError(f"no committed feed for province {province!r}; have {known}") from None
