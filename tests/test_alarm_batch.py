"""The ingest writer opens and merges alarms set-based, one statement per table per batch;
the result must equal applying the triggers one by one (the operator API's path)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ioc.alarms import AlarmTrigger
from ioc.store import open_store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _triggers(rng: random.Random, n: int) -> list[AlarmTrigger]:
    out = []
    for i in range(n):
        k = rng.randrange(12)
        out.append(
            AlarmTrigger(
                rule="panic" if k % 2 else "fire",
                dedup_key=f"r{k % 2}:68:src{k}",
                source=f"src{k}",
                kind="transport.panic" if k % 2 else "security.fire",
                province="68",
                ward=None if k % 3 == 0 else f"2{k:04d}",
                severity=rng.randrange(5),
                title=f"title {k}",
                event_id=f"e{i}",
                # Not sorted: merges keep the highest time, whatever the order.
                ts=T0 + timedelta(seconds=rng.randrange(600)),
            )
        )
    return out


def _state(store) -> tuple[list, list]:
    alarms = sorted(
        store.alarms(states=("open", "acknowledged", "resolved"), limit=1000),
        key=lambda a: (a.dedup_key, a.opened_at, a.id),
    )
    rows = [replace(a, id=0) for a in alarms]
    actions = [[(x.actor, x.action, x.note) for x in store.alarm_actions(a.id)] for a in alarms]
    return rows, actions


def test_set_based_alarms_match_one_by_one(tmp_path, store_url):
    rng = random.Random(13)
    batches = [_triggers(rng, n) for n in (40, 1, 25)]
    one_url = f"sqlite:///{tmp_path / 'one.db'}"
    results = []
    for url, set_based in ((one_url, False), (store_url, True)):
        store = open_store(url, migrate=True)
        try:
            opened = []
            for b, batch in enumerate(batches):
                with store.transaction() as tx:
                    if set_based:
                        opened.append(store._open_or_merge_many(tx, batch))
                    else:
                        opened.append(sum(store._open_or_merge(tx, t)[1] for t in batch))
                if b == 0:
                    # Between batches an operator resolves one alarm and acknowledges one:
                    # the next triggers of the first key open a new alarm.
                    first, second = sorted(store.alarms(), key=lambda a: a.dedup_key)[:2]
                    store.alarm_action(first.id, actor="op", action="resolve", note="done")
                    store.alarm_action(second.id, actor="op", action="acknowledge")
            results.append((opened, _state(store)))
        finally:
            store.close()
    (opened_one, (alarms_one, actions_one)), (opened_set, (alarms_set, actions_set)) = results
    assert opened_set == opened_one
    assert len(alarms_set) == len(alarms_one)
    for a, b in zip(alarms_set, alarms_one, strict=True):
        # Operator timestamps differ between the two runs; everything else must not.
        assert replace(a, acknowledged_at=None, resolved_at=None) == replace(
            b, acknowledged_at=None, resolved_at=None
        )
    assert actions_set == actions_one
