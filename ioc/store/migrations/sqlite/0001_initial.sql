-- Initial schema. Timestamps are fixed-width UTC text 'YYYY-MM-DD HH:MM:SS.ffffff+00:00',
-- so text order is time order.
CREATE TABLE events (
    id          text        NOT NULL,
    ts          text NOT NULL,
    source      text        NOT NULL,
    kind        text        NOT NULL,
    severity    integer    NOT NULL,
    province    text        NOT NULL,
    ward        text,
    lat         real,
    lon         real,
    attrs       text       NOT NULL DEFAULT '{}',
    received_at text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    PRIMARY KEY (id, ts)
);
CREATE INDEX events_province_ts ON events (province, ts DESC);
CREATE INDEX events_source_ts ON events (source, ts DESC);
CREATE INDEX events_ts ON events (ts DESC);

-- The generic rollups (rollup_hourly, rollup_daily_ward) were created here; no screen read
-- them and 0007 drops them, so a new database no longer creates them at all.

CREATE TABLE devices (
    source        text PRIMARY KEY,
    province      text NOT NULL,
    ward          text,
    domain        text,
    name          text,
    lat           real,
    lon           real,
    status        text,
    status_ts     text,
    last_ts       text,
    last_kind     text,
    last_severity integer,
    last_event_id text,
    last_attrs    text
);
CREATE INDEX devices_province ON devices (province, domain);

CREATE TABLE alarms (
    id              integer PRIMARY KEY AUTOINCREMENT,
    rule            text        NOT NULL,
    dedup_key       text        NOT NULL,
    source          text        NOT NULL,
    kind            text        NOT NULL,
    province        text        NOT NULL,
    ward            text,
    severity        integer    NOT NULL,
    title           text        NOT NULL,
    state           text        NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_at       text NOT NULL,
    last_event_at   text NOT NULL,
    event_count     integer     NOT NULL DEFAULT 1,
    first_event_id  text        NOT NULL,
    last_event_id   text        NOT NULL,
    acknowledged_at text,
    acknowledged_by text,
    assigned_to     text,
    resolved_at     text,
    resolved_by     text,
    resolution      text
);
CREATE UNIQUE INDEX alarms_one_active ON alarms (dedup_key) WHERE state <> 'resolved';
CREATE INDEX alarms_province_state ON alarms (province, state, opened_at DESC);

CREATE TABLE alarm_actions (
    id          integer PRIMARY KEY AUTOINCREMENT,
    alarm_id    integer      NOT NULL REFERENCES alarms (id),
    ts          text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    note        text,
    assigned_to text
);
CREATE INDEX alarm_actions_alarm ON alarm_actions (alarm_id, id);

CREATE TABLE users (
    username      text PRIMARY KEY,
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('operator', 'leader', 'engineer', 'admin')),
    province      text,
    disabled      integer     NOT NULL DEFAULT 0,
    created_at    text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    updated_at    text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now'))
);

CREATE TABLE audit_log (
    id      integer PRIMARY KEY AUTOINCREMENT,
    ts      text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    actor   text        NOT NULL,
    action  text        NOT NULL,
    target  text,
    details text       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_ts ON audit_log (ts DESC);


CREATE TABLE dead_letters (
    id          integer PRIMARY KEY AUTOINCREMENT,
    received_at text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')),
    topic       text        NOT NULL,
    payload     blob       NOT NULL,
    reason      text        NOT NULL,
    worker      text
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);

CREATE TABLE ingest_workers (
    worker_id     text PRIMARY KEY,
    started_at    text NOT NULL,
    heartbeat_at  text NOT NULL,
    received      integer      NOT NULL DEFAULT 0,
    written       integer      NOT NULL DEFAULT 0,
    duplicates    integer      NOT NULL DEFAULT 0,
    dead_letters  integer      NOT NULL DEFAULT 0,
    store_errors  integer      NOT NULL DEFAULT 0,
    queue_depth   integer     NOT NULL DEFAULT 0,
    last_event_ts text
);

-- The audit log is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
