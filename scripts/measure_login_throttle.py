"""Time a failed login (Argon2id) against a throttled one on a store: `python scripts/measure_login_throttle.py URL`.

Use an empty database: it adds the user `victim` and audit rows.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from ioc.auth import AuthError, LoginPolicy, LoginThrottled, authenticate, hash_password
from ioc.store import open_store

FREE = 5
THROTTLED_TRIES = 200


def main(url: str) -> None:
    """Print median failed-login and throttled-login times and the audit rows they left."""
    store = open_store(url, migrate=True)
    store.add_user("victim", hash_password("mat-khau-dung-1"), "operator")
    policy = LoginPolicy(free_failures=FREE, base=timedelta(seconds=60))
    failed: list[float] = []
    for _ in range(FREE):
        began = time.perf_counter()
        try:
            authenticate(store, "victim", "sai-mat-khau-xx", source="203.0.113.9", policy=policy)
        except LoginThrottled:
            raise SystemExit("throttled before the free failures were used") from None
        except AuthError:
            pass
        failed.append(time.perf_counter() - began)
    throttled: list[float] = []
    for _ in range(THROTTLED_TRIES):
        began = time.perf_counter()
        try:
            authenticate(store, "victim", "sai-mat-khau-xx", source="203.0.113.9", policy=policy)
        except LoginThrottled:
            pass
        throttled.append(time.perf_counter() - began)
    failed.sort()
    throttled.sort()
    print(
        f"{store.backend}: failed login median {failed[len(failed) // 2] * 1000:.1f} ms; "
        f"throttled median {throttled[len(throttled) // 2] * 1000:.2f} ms, "
        f"p95 {throttled[int(len(throttled) * 0.95)] * 1000:.2f} ms; "
        f"audit rows: login_failed {len(store.audit_entries(action='login_failed'))}, "
        f"login_throttled {len(store.audit_entries(action='login_throttled'))}"
    )
    store.close()


if __name__ == "__main__":
    main(sys.argv[1])
