"""The retention job of the ingest process: IOC_RETENTION applied every IOC_RETENTION_INTERVAL_S.

Only worker 1 runs it (several workers would only queue behind one another's locks), in a
daemon thread of its own so the writer never waits for it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ioc.archive import ArchiveError
from ioc.settings import Settings
from ioc.store import Store, StoreError

logger = logging.getLogger(__name__)


def run_once(settings: Settings, store: Store) -> None:
    """Apply the policy once; log what was dropped, archived and skipped."""
    try:
        report = store.apply_retention(settings.retention_policy, settings.archive_dir)
    except (StoreError, ArchiveError) as exc:
        logger.warning("retention: not applied this time: %s", exc)
        return
    except Exception:
        # A bug or an unexpected database error must not end the job for good: log, retry later.
        logger.exception("retention: failed; trying again next interval")
        return
    if report.dropped or report.skipped:
        logger.warning(
            "retention: dropped %d events (%s), archived to %d file(s); skipped: %s",
            report.dropped,
            report.policy,
            len(report.archived),
            "; ".join(report.skipped) or "none",
        )


def start_retention(
    settings: Settings, store: Store, options: Any, stop: threading.Event
) -> threading.Thread | None:
    """Start the retention thread in worker 1 (None in others, when retiring, or when disabled).

    options: the worker's WorkerOptions (index, retire); stop: set when the worker stops.
    """
    interval = settings.retention_interval_s
    if options.index != 1 or options.retire or interval <= 0:
        return None

    def loop() -> None:
        # First run soon after start, then every interval, until the worker stops.
        delay = min(interval, 5.0)
        while not stop.wait(delay):
            run_once(settings, store)
            delay = interval

    thread = threading.Thread(target=loop, name="ioc-retention", daemon=True)
    thread.start()
    return thread
