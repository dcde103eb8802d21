-- Initial schema. Timestamps are timestamptz (UTC); events is a hypertable when
-- TimescaleDB is preloaded on the server, a plain table otherwise.
CREATE TABLE events (
    id          text        NOT NULL,
    ts          timestamptz NOT NULL,
    source      text        NOT NULL,
    kind        text        NOT NULL,
    severity    smallint    NOT NULL,
    province    text        NOT NULL,
    ward        text,
    lat         double precision,
    lon         double precision,
    attrs       jsonb       NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, ts)
);
CREATE INDEX events_province_ts ON events (province, ts DESC);
CREATE INDEX events_source_ts ON events (source, ts DESC);
CREATE INDEX events_ts ON events (ts DESC);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('events', 'ts', chunk_time_interval => INTERVAL '1 day',
                                  migrate_data => true);
    END IF;
END
$$;

-- The generic rollups (rollup_hourly, rollup_daily_ward) were created here; no screen read
-- them and 0007 drops them, so a new database no longer creates them at all.

CREATE TABLE devices (
    source        text PRIMARY KEY,
    province      text NOT NULL,
    ward          text,
    domain        text,
    name          text,
    lat           double precision,
    lon           double precision,
    status        text,
    status_ts     timestamptz,
    last_ts       timestamptz,
    last_kind     text,
    last_severity smallint,
    last_event_id text,
    last_attrs    jsonb
);
CREATE INDEX devices_province ON devices (province, domain);

CREATE TABLE alarms (
    id              bigserial PRIMARY KEY,
    rule            text        NOT NULL,
    dedup_key       text        NOT NULL,
    source          text        NOT NULL,
    kind            text        NOT NULL,
    province        text        NOT NULL,
    ward            text,
    severity        smallint    NOT NULL,
    title           text        NOT NULL,
    state           text        NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_at       timestamptz NOT NULL,
    last_event_at   timestamptz NOT NULL,
    event_count     integer     NOT NULL DEFAULT 1,
    first_event_id  text        NOT NULL,
    last_event_id   text        NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    assigned_to     text,
    resolved_at     timestamptz,
    resolved_by     text,
    resolution      text
);
CREATE UNIQUE INDEX alarms_one_active ON alarms (dedup_key) WHERE state <> 'resolved';
CREATE INDEX alarms_province_state ON alarms (province, state, opened_at DESC);

CREATE TABLE alarm_actions (
    id          bigserial PRIMARY KEY,
    alarm_id    bigint      NOT NULL REFERENCES alarms (id),
    ts          timestamptz NOT NULL DEFAULT now(),
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
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    ts      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,
    action  text        NOT NULL,
    target  text,
    details jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_ts ON audit_log (ts DESC);

-- The audit log is append-only for everyone, the application role included.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text        NOT NULL,
    payload     bytea       NOT NULL,
    reason      text        NOT NULL,
    worker      text
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);

CREATE TABLE ingest_workers (
    worker_id     text PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    received      bigint      NOT NULL DEFAULT 0,
    written       bigint      NOT NULL DEFAULT 0,
    duplicates    bigint      NOT NULL DEFAULT 0,
    dead_letters  bigint      NOT NULL DEFAULT 0,
    store_errors  bigint      NOT NULL DEFAULT 0,
    queue_depth   integer     NOT NULL DEFAULT 0,
    last_event_ts timestamptz
);
