"""Time a failed login (Argon2id) against a throttled one on a store: `python scripts/measure_login_throttle.py URL`.

Use an empty database: it adds the user `victim` and audit rows.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from ioc.auth import AuthError, LoginPolicy, LoginThrottled, authenticate, hash_password
from ioc.store import Store, open_store

FREE = 5
THROTTLED_TRIES = 200


def _timed_tries(store: Store, policy: LoginPolicy, tries: int, *, throttled: bool) -> list[float]:
    """Seconds of each wrong-password login, sorted; each must be throttled or each refused."""
    times: list[float] = []
    for _ in range(tries):
        began = time.perf_counter()
        try:
            authenticate(store, "victim", "sai-mat-khau-xx", source="203.0.113.9", policy=policy)
        except LoginThrottled:
            if not throttled:
                raise SystemExit("throttled before the free failures were used") from None
        except AuthError:
            if throttled:
                raise
        times.append(time.perf_counter() - began)
    return sorted(times)


def main(url: str) -> None:
    """Print median failed-login and throttled-login times and the audit rows they left."""
    store = open_store(url, migrate=True)
    store.add_user("victim", hash_password("mat-khau-dung-1"), "operator")
    policy = LoginPolicy(free_failures=FREE, base=timedelta(seconds=60))
    failed = _timed_tries(store, policy, FREE, throttled=False)
    throttled = _timed_tries(store, policy, THROTTLED_TRIES, throttled=True)
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
