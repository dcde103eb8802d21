-- Alarm handling facts for the KPIs: one narrow row per alarm with its durations, kept by
-- triggers so every path that changes an alarm (ingest merges, operator actions, imports)
-- updates it. Medians sort these few columns instead of the wide, often-updated alarms.
CREATE TABLE kpi_alarm_facts (
    alarm_id  bigint PRIMARY KEY,
    opened_at timestamptz      NOT NULL,
    province  text             NOT NULL,
    ward      text             NOT NULL,
    kind      text             NOT NULL,
    severity  smallint         NOT NULL,
    ack_s     double precision,
    res_s     double precision
);
CREATE INDEX kpi_alarm_facts_opened ON kpi_alarm_facts (opened_at)
    INCLUDE (province, ward, kind, severity, ack_s, res_s);
CREATE INDEX kpi_alarm_facts_province ON kpi_alarm_facts (province, opened_at)
    INCLUDE (ward, kind, severity, ack_s, res_s);
CREATE INDEX kpi_alarm_facts_kind ON kpi_alarm_facts (kind, opened_at);

CREATE FUNCTION kpi_alarm_facts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_alarm_facts (alarm_id, opened_at, province, ward, kind, severity, ack_s, res_s)
    VALUES (NEW.id, NEW.opened_at, NEW.province, coalesce(NEW.ward, ''), NEW.kind, NEW.severity,
            date_part('epoch', NEW.acknowledged_at - NEW.opened_at),
            date_part('epoch', NEW.resolved_at - NEW.opened_at))
    ON CONFLICT (alarm_id) DO UPDATE SET opened_at = excluded.opened_at,
        province = excluded.province, ward = excluded.ward, kind = excluded.kind,
        severity = excluded.severity, ack_s = excluded.ack_s, res_s = excluded.res_s;
    RETURN NULL;
END
$$;
CREATE TRIGGER alarms_kpi_facts_insert AFTER INSERT ON alarms
    FOR EACH ROW EXECUTE FUNCTION kpi_alarm_facts_sync();
-- Merges bump counters on every repeat; only changes the KPIs read fire the trigger.
CREATE TRIGGER alarms_kpi_facts_update AFTER UPDATE ON alarms
    FOR EACH ROW WHEN (OLD.acknowledged_at IS DISTINCT FROM NEW.acknowledged_at
                       OR OLD.resolved_at IS DISTINCT FROM NEW.resolved_at
                       OR OLD.severity IS DISTINCT FROM NEW.severity
                       OR OLD.ward IS DISTINCT FROM NEW.ward)
    EXECUTE FUNCTION kpi_alarm_facts_sync();

INSERT INTO kpi_alarm_facts (alarm_id, opened_at, province, ward, kind, severity, ack_s, res_s)
SELECT id, opened_at, province, coalesce(ward, ''), kind, severity,
       date_part('epoch', acknowledged_at - opened_at), date_part('epoch', resolved_at - opened_at)
FROM alarms;
