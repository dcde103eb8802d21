-- KPI state kept by the ingest writer in the same transaction as the events
-- (ioc/store/kpi_queries.py). Timestamps are fixed-width UTC text like 0001; hours are UTC,
-- days are local dates (YYYY-MM-DD) in Asia/Ho_Chi_Minh (UTC+7, no daylight saving).

-- Counts of KPI facts (security incidents by kind, stop arrivals, on-time arrivals, new
-- trips). Four grains, each for the query it serves: provinces by hour (24 h windows,
-- national trends), communes by hour (24 h commune maps), provinces by day and communes by
-- day (7 d / 30 d windows). Only KPI-relevant events reach them, so they stay small.
CREATE TABLE kpi_hourly_province (
    bucket   text NOT NULL,
    province text        NOT NULL,
    metric   text        NOT NULL,
    n        integer     NOT NULL,
    PRIMARY KEY (bucket, province, metric)
);
CREATE INDEX kpi_hourly_province_p ON kpi_hourly_province (province, bucket);

CREATE TABLE kpi_hourly_ward (
    bucket   text NOT NULL,
    province text        NOT NULL,
    ward     text        NOT NULL,
    metric   text        NOT NULL,
    n        integer     NOT NULL,
    PRIMARY KEY (province, bucket, ward, metric)
);

CREATE TABLE kpi_daily_province (
    day      text   NOT NULL,
    province text   NOT NULL,
    metric   text   NOT NULL,
    n        integer NOT NULL,
    PRIMARY KEY (day, province, metric)
);
CREATE INDEX kpi_daily_province_p ON kpi_daily_province (province, day);

CREATE TABLE kpi_daily_ward (
    day      text   NOT NULL,
    province text   NOT NULL,
    ward     text   NOT NULL,
    metric   text   NOT NULL,
    n        integer NOT NULL,
    PRIMARY KEY (province, day, ward, metric)
);

-- Trips seen, so a trip counts once however many events it sends.
CREATE TABLE kpi_trips (
    trip     text PRIMARY KEY,
    province text        NOT NULL,
    ward     text        NOT NULL,
    first_ts text NOT NULL
);

-- Cameras and since when they are watched: the camera-time denominator.
CREATE TABLE kpi_cameras (
    source     text PRIMARY KEY,
    province   text        NOT NULL,
    ward       text        NOT NULL,
    first_seen text NOT NULL
);
CREATE INDEX kpi_cameras_province ON kpi_cameras (province, ward);

-- Health conditions open now, per camera; a camera is down while it has any.
CREATE TABLE kpi_camera_conditions (
    source    text        NOT NULL,
    condition text        NOT NULL,
    kind      text        NOT NULL,
    opened_at text NOT NULL,
    PRIMARY KEY (source, condition)
);

-- Down intervals per camera, overlapping conditions merged; ended_at is NULL while down.
CREATE TABLE kpi_camera_downtime (
    source     text        NOT NULL,
    province   text        NOT NULL,
    ward       text        NOT NULL,
    started_at text NOT NULL,
    ended_at   text,
    PRIMARY KEY (source, started_at)
);
CREATE INDEX kpi_camera_downtime_province ON kpi_camera_downtime (province, started_at);
CREATE INDEX kpi_camera_downtime_ended ON kpi_camera_downtime (ended_at);
CREATE INDEX kpi_camera_downtime_open ON kpi_camera_downtime (source) WHERE ended_at IS NULL;

-- Village coverage gaps and power outages, one row per episode id.
CREATE TABLE kpi_village_outages (
    service    text        NOT NULL CHECK (service IN ('coverage', 'power')),
    ref        text        NOT NULL,
    province   text        NOT NULL,
    ward       text        NOT NULL,
    village    text        NOT NULL,
    households integer,
    started_at text,
    ended_at   text,
    PRIMARY KEY (service, ref)
);
CREATE INDEX kpi_village_outages_province ON kpi_village_outages (service, province, started_at);
CREATE INDEX kpi_village_outages_ended ON kpi_village_outages (service, ended_at);

-- Alarm handling and alarms per trip read alarms by opening time.
CREATE INDEX alarms_opened ON alarms (opened_at);
CREATE INDEX alarms_kind_opened ON alarms (kind, opened_at);
