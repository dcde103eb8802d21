"""Alarms: opened and merged by the ingest writer, handled by operators."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ioc.store.core import VALUES_CHUNK, StoreCore, Tx, record
from ioc.store.models import (
    ALARM_ACTIONS,
    Alarm,
    AlarmAction,
    AlarmTrigger,
)

# Columns as (name, PostgreSQL type) of the set-based alarm writes.
MERGE_COLUMNS = (
    ("k", "text"),
    ("n", "int4"),
    ("sev", "int2"),
    ("last_ts", "timestamptz"),
    ("last_id", "text"),
)
OPEN_COLUMNS = (
    ("rule", "text"),
    ("dedup_key", "text"),
    ("source", "text"),
    ("kind", "text"),
    ("province", "text"),
    ("ward", "text"),
    ("severity", "int2"),
    ("title", "text"),
    ("state", "text"),
    ("opened_at", "timestamptz"),
    ("last_event_at", "timestamptz"),
    ("event_count", "int4"),
    ("first_event_id", "text"),
    ("last_event_id", "text"),
)
ACTION_COLUMNS = (
    ("alarm_id", "int8"),
    ("ts", "timestamptz"),
    ("actor", "text"),
    ("action", "text"),
    ("note", "text"),
)


class Alarms(StoreCore):
    """The alarm lifecycle and its action log."""

    def open_or_merge_alarm(self, trigger: AlarmTrigger) -> tuple[Alarm, bool]:
        """Open an alarm for a trigger, or merge it into the active one with the same key.

        Returns the alarm and True when it was newly opened.
        """
        with self.transaction() as tx:
            return self._open_or_merge(tx, trigger)

    def _open_or_merge(self, tx: Tx, trigger: AlarmTrigger) -> tuple[Alarm, bool]:
        rows = tx.fetch(
            "UPDATE alarms SET event_count = event_count + 1, last_event_id = %s, "
            "last_event_at = CASE WHEN last_event_at < %s THEN %s ELSE last_event_at END, "
            "severity = CASE WHEN severity < %s THEN %s ELSE severity END "
            "WHERE dedup_key = %s AND state <> 'resolved' RETURNING *",
            (
                trigger.event_id,
                self._to_db(trigger.ts),
                self._to_db(trigger.ts),
                trigger.severity,
                trigger.severity,
                trigger.dedup_key,
            ),
        )
        opened = not rows
        if opened:
            rows = tx.fetch(
                "INSERT INTO alarms (rule, dedup_key, source, kind, province, ward, severity, "
                "title, state, opened_at, last_event_at, event_count, first_event_id, "
                "last_event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, 1, "
                "%s, %s) RETURNING *",
                (
                    trigger.rule,
                    trigger.dedup_key,
                    trigger.source,
                    trigger.kind,
                    trigger.province,
                    trigger.ward,
                    trigger.severity,
                    trigger.title,
                    self._to_db(trigger.ts),
                    self._to_db(trigger.ts),
                    trigger.event_id,
                    trigger.event_id,
                ),
            )
        alarm = record(Alarm, self._from_db(rows[0]))
        tx.execute(
            "INSERT INTO alarm_actions (alarm_id, ts, actor, action, note) "
            "VALUES (%s, %s, %s, %s, %s)",
            (
                alarm.id,
                self._to_db(datetime.now(UTC)),
                "system",
                "opened" if opened else "merged",
                trigger.event_id,
            ),
        )
        return alarm, opened

    def _open_or_merge_many(self, tx: Tx, triggers: Sequence[AlarmTrigger]) -> int:
        """Apply triggers in order, as _open_or_merge one by one would: one statement per
        table per chunk of dedup keys. Returns the number of alarms opened."""
        groups: dict[str, list[AlarmTrigger]] = {}
        for t in triggers:
            groups.setdefault(t.dedup_key, []).append(t)
        keys = list(groups)
        ids: dict[str, int] = {}
        fresh: set[str] = set()
        for i in range(0, len(keys), VALUES_CHUNK):
            chunk = {k: groups[k] for k in keys[i : i + VALUES_CHUNK]}
            self._open_or_merge_chunk(tx, chunk, ids, fresh)
        # The action log in trigger order: each new alarm's first trigger opened it.
        now = self._to_db(datetime.now(UTC))
        actions = []
        for t in triggers:
            first = t.dedup_key in fresh and groups[t.dedup_key][0] is t
            actions.append(
                (ids[t.dedup_key], now, "system", "opened" if first else "merged", t.event_id)
            )
        self._insert_rows(tx, "alarm_actions", ACTION_COLUMNS, actions)
        return len(fresh)

    def _open_or_merge_chunk(
        self, tx: Tx, groups: dict[str, list[AlarmTrigger]], ids: dict[str, int], fresh: set[str]
    ) -> None:
        # The triggers of a key merge into its active alarm: count, newest event, and the
        # highest time and severity, whatever their order (as one UPDATE per trigger did).
        merges = [
            (
                key,
                len(ts),
                max(t.severity for t in ts),
                self._to_db(max(t.ts for t in ts)),
                ts[-1].event_id,
            )
            for key, ts in groups.items()
        ]
        body, params = self._values_source(MERGE_COLUMNS, merges)
        merged = tx.fetch(
            f"WITH v ({', '.join(c for c, _ in MERGE_COLUMNS)}) AS ({body}) "  # noqa: S608
            "UPDATE alarms SET event_count = alarms.event_count + v.n, "
            "last_event_id = v.last_id, "
            "last_event_at = CASE WHEN alarms.last_event_at < v.last_ts THEN v.last_ts "
            "ELSE alarms.last_event_at END, "
            "severity = CASE WHEN alarms.severity < v.sev THEN v.sev ELSE alarms.severity END "
            "FROM v WHERE alarms.dedup_key = v.k AND alarms.state <> 'resolved' "
            "RETURNING alarms.id, alarms.dedup_key",
            params,
        )
        ids.update((r["dedup_key"], r["id"]) for r in merged)
        # A key with no active alarm opens one with its first trigger; the rest merge into it.
        new = [(k, ts) for k, ts in groups.items() if k not in ids]
        if new:
            rows = [
                (
                    t.rule,
                    k,
                    t.source,
                    t.kind,
                    t.province,
                    t.ward,
                    max(x.severity for x in ts),
                    t.title,
                    "open",
                    self._to_db(t.ts),
                    self._to_db(max(x.ts for x in ts)),
                    len(ts),
                    t.event_id,
                    ts[-1].event_id,
                )
                for k, ts in new
                for t in ts[:1]
            ]
            for r in self._insert_rows(tx, "alarms", OPEN_COLUMNS, rows, "RETURNING id, dedup_key"):
                ids[r["dedup_key"]] = r["id"]
        fresh.update(k for k, _ in new)

    def alarm_action(
        self,
        alarm_id: int,
        *,
        actor: str,
        action: str,
        note: str | None = None,
        assigned_to: str | None = None,
    ) -> Alarm:
        """Acknowledge, assign, comment on or resolve an alarm, logging who and when."""
        if action not in ALARM_ACTIONS or action in ("opened", "merged"):
            raise ValueError(f"unknown alarm action {action!r}")
        if action == "resolve" and not (note and note.strip()):
            raise ValueError("resolving an alarm needs a resolution note")
        if action == "assign" and not (assigned_to and assigned_to.strip()):
            raise ValueError("assigning an alarm needs an assignee")
        now = self._to_db(datetime.now(UTC))
        updates = {
            "acknowledge": (
                "UPDATE alarms SET state = 'acknowledged', acknowledged_at = %s, "
                "acknowledged_by = %s WHERE id = %s AND state = 'open' RETURNING *",
                (now, actor, alarm_id),
            ),
            "assign": (
                "UPDATE alarms SET assigned_to = %s WHERE id = %s AND state <> 'resolved' "
                "RETURNING *",
                (assigned_to, alarm_id),
            ),
            "resolve": (
                "UPDATE alarms SET state = 'resolved', resolved_at = %s, resolved_by = %s, "
                "resolution = %s, acknowledged_at = coalesce(acknowledged_at, %s), "
                "acknowledged_by = coalesce(acknowledged_by, %s) "
                "WHERE id = %s AND state <> 'resolved' RETURNING *",
                (now, actor, note, now, actor, alarm_id),
            ),
            "comment": ("SELECT * FROM alarms WHERE id = %s", (alarm_id,)),
        }
        query, params = updates[action]
        with self.transaction() as tx:
            rows = tx.fetch(query, params)
            if not rows:
                current = tx.fetch("SELECT state FROM alarms WHERE id = %s", (alarm_id,))
                if not current:
                    raise KeyError(f"no alarm {alarm_id}")
                raise ValueError(f"cannot {action} alarm {alarm_id}: it is {current[0]['state']}")
            tx.execute(
                "INSERT INTO alarm_actions (alarm_id, ts, actor, action, note, assigned_to) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (alarm_id, now, actor, action, note, assigned_to),
            )
            # The audit trail gets the same action in the same transaction, whoever the caller.
            tx.execute(
                "INSERT INTO audit_log (ts, actor, action, target, province, details) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    now,
                    actor,
                    f"alarm_{action}",
                    f"alarm:{alarm_id}",
                    rows[0]["province"],
                    self._to_db(
                        {
                            "province": rows[0]["province"],
                            "state": rows[0]["state"],
                            "note": note,
                            "assigned_to": assigned_to,
                        }
                    ),
                ),
            )
        return record(Alarm, self._from_db(rows[0]))

    def alarms(
        self,
        *,
        province: str | None = None,
        states: Sequence[str] = ("open", "acknowledged"),
        limit: int = 200,
    ) -> list[Alarm]:
        """Alarms in the given states, newest first."""
        placeholders = ", ".join(["%s"] * len(states))
        query = f"SELECT * FROM alarms WHERE state IN ({placeholders})"  # noqa: S608
        params: list[Any] = list(states)
        if province is not None:
            query += " AND province = %s"
            params.append(province)
        rows = self._rows(query + " ORDER BY opened_at DESC, id DESC LIMIT %s", [*params, limit])
        return [record(Alarm, r) for r in rows]

    def get_alarm(self, alarm_id: int) -> Alarm | None:
        """One alarm by id."""
        rows = self._rows("SELECT * FROM alarms WHERE id = %s", (alarm_id,))
        return record(Alarm, rows[0]) if rows else None

    def alarm_actions(self, alarm_id: int) -> list[AlarmAction]:
        """The action log of one alarm, oldest first."""
        rows = self._rows(
            "SELECT * FROM alarm_actions WHERE alarm_id = %s ORDER BY id", (alarm_id,)
        )
        return [record(AlarmAction, r) for r in rows]

    def record_alarm_handling(
        self, handled: Iterable[tuple[int, datetime | None, datetime | None, str]]
    ) -> int:
        """Set when alarms were acknowledged and resolved, for seeding and history imports.

        Takes (alarm id, acknowledged_at, resolved_at, actor); logs each step in the action
        log with its own time. Returns the number of alarms changed.
        """
        changed = 0
        with self.transaction() as tx:
            for alarm_id, acked, resolved, actor in handled:
                state = "resolved" if resolved else ("acknowledged" if acked else "open")
                n = tx.execute(
                    "UPDATE alarms SET state = %s, acknowledged_at = %s, acknowledged_by = %s, "
                    "resolved_at = %s, resolved_by = %s, resolution = %s "
                    "WHERE id = %s AND state <> 'resolved'",
                    (
                        state,
                        self._to_db(acked),
                        actor if acked else None,
                        self._to_db(resolved),
                        actor if resolved else None,
                        "imported" if resolved else None,
                        alarm_id,
                    ),
                )
                if not n:
                    continue
                changed += 1
                for action, ts in (("acknowledge", acked), ("resolve", resolved)):
                    if ts is not None:
                        tx.execute(
                            "INSERT INTO alarm_actions (alarm_id, ts, actor, action, note) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            (alarm_id, self._to_db(ts), actor, action, "imported"),
                        )
        return changed
