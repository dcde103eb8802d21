-- National programme registers (issue 16): villages (thôn, bản, tổ dân phố) with their mobile
-- signal and grid power status, and the cameras each IOC plans to integrate. The programme
-- baseline (in_signal / in_power) marks the villages a programme has to cover; a covered
-- village keeps its flag and gets a *_covered_on (local date), so progress over time is a
-- cumulative count.
CREATE TABLE villages (
    id                text    PRIMARY KEY,
    province          text    NOT NULL,
    ward              text    NOT NULL,
    name              text    NOT NULL,
    kind              text    NOT NULL,
    lat               real,
    lon               real,
    households        integer NOT NULL,
    residents         integer NOT NULL,
    signal            text    NOT NULL,
    signal_source     text    NOT NULL,
    operators         text    NOT NULL DEFAULT '{}',  -- JSON {operator: level}
    power             text    NOT NULL,
    in_signal         integer NOT NULL,
    in_power          integer NOT NULL,
    signal_covered_on text,
    power_covered_on  text,
    declared_on       text    NOT NULL,
    UNIQUE (ward, name)
);
CREATE INDEX villages_province ON villages (province, ward);
-- Programme queries read only the villages in a programme (a small share of the register).
CREATE INDEX villages_in_programme ON villages (province, ward) WHERE in_signal OR in_power;
CREATE INDEX villages_signal_done ON villages (province, signal_covered_on) WHERE in_signal;
CREATE INDEX villages_power_done ON villages (province, power_covered_on) WHERE in_power;

-- Signal seen by probes per village and operator: a run of days at 4G or better.
CREATE TABLE village_signal_runs (
    village     text NOT NULL,
    operator    text NOT NULL,
    first_seen  text NOT NULL,
    last_seen   text NOT NULL,
    PRIMARY KEY (village, operator)
);

CREATE TABLE camera_register (
    id            text PRIMARY KEY,
    province      text NOT NULL,
    ward          text NOT NULL,
    owner         text NOT NULL,
    vendor        text NOT NULL,
    route         text,
    planned_on    text NOT NULL,
    integrated_at text,
    integrated_on text
);
CREATE INDEX camera_register_province ON camera_register (province, ward);
CREATE INDEX camera_register_integrated ON camera_register (province, integrated_on);
