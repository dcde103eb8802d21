-- Alarm handling facts for the KPIs: one narrow row per alarm with its durations, kept by
-- triggers so every path that changes an alarm (ingest merges, operator actions, imports)
-- updates it. Durations are exact: whole seconds by julianday (rounded) plus the
-- difference of the fixed-width microsecond fractions.
CREATE TABLE kpi_alarm_facts (
    alarm_id  integer PRIMARY KEY,
    opened_at text    NOT NULL,
    province  text    NOT NULL,
    ward      text    NOT NULL,
    kind      text    NOT NULL,
    severity  integer NOT NULL,
    ack_s     real,
    res_s     real
);
CREATE INDEX kpi_alarm_facts_opened
    ON kpi_alarm_facts (opened_at, province, ward, kind, severity, ack_s, res_s);
CREATE INDEX kpi_alarm_facts_province
    ON kpi_alarm_facts (province, opened_at, ward, kind, severity, ack_s, res_s);
CREATE INDEX kpi_alarm_facts_kind ON kpi_alarm_facts (kind, opened_at);

CREATE TRIGGER alarms_kpi_facts_insert AFTER INSERT ON alarms
BEGIN
    INSERT INTO kpi_alarm_facts (alarm_id, opened_at, province, ward, kind, severity, ack_s, res_s)
    VALUES (NEW.id, NEW.opened_at, NEW.province, coalesce(NEW.ward, ''), NEW.kind, NEW.severity,
        CASE WHEN NEW.acknowledged_at IS NULL THEN NULL ELSE
            round((julianday(substr(NEW.acknowledged_at, 1, 19))
                   - julianday(substr(NEW.opened_at, 1, 19))) * 86400.0)
            + CAST(substr(NEW.acknowledged_at, 20, 7) AS REAL)
            - CAST(substr(NEW.opened_at, 20, 7) AS REAL) END,
        CASE WHEN NEW.resolved_at IS NULL THEN NULL ELSE
            round((julianday(substr(NEW.resolved_at, 1, 19))
                   - julianday(substr(NEW.opened_at, 1, 19))) * 86400.0)
            + CAST(substr(NEW.resolved_at, 20, 7) AS REAL)
            - CAST(substr(NEW.opened_at, 20, 7) AS REAL) END)
    ON CONFLICT (alarm_id) DO NOTHING;
END;

CREATE TRIGGER alarms_kpi_facts_update AFTER UPDATE ON alarms
WHEN OLD.acknowledged_at IS NOT NEW.acknowledged_at OR OLD.resolved_at IS NOT NEW.resolved_at
     OR OLD.severity IS NOT NEW.severity OR OLD.ward IS NOT NEW.ward
BEGIN
    UPDATE kpi_alarm_facts SET severity = NEW.severity, ward = coalesce(NEW.ward, ''),
        ack_s = CASE WHEN NEW.acknowledged_at IS NULL THEN NULL ELSE
            round((julianday(substr(NEW.acknowledged_at, 1, 19))
                   - julianday(substr(NEW.opened_at, 1, 19))) * 86400.0)
            + CAST(substr(NEW.acknowledged_at, 20, 7) AS REAL)
            - CAST(substr(NEW.opened_at, 20, 7) AS REAL) END,
        res_s = CASE WHEN NEW.resolved_at IS NULL THEN NULL ELSE
            round((julianday(substr(NEW.resolved_at, 1, 19))
                   - julianday(substr(NEW.opened_at, 1, 19))) * 86400.0)
            + CAST(substr(NEW.resolved_at, 20, 7) AS REAL)
            - CAST(substr(NEW.opened_at, 20, 7) AS REAL) END
    WHERE alarm_id = NEW.id;
END;

INSERT INTO kpi_alarm_facts (alarm_id, opened_at, province, ward, kind, severity, ack_s, res_s)
SELECT id, opened_at, province, coalesce(ward, ''), kind, severity,
    CASE WHEN acknowledged_at IS NULL THEN NULL ELSE
        round((julianday(substr(acknowledged_at, 1, 19)) - julianday(substr(opened_at, 1, 19)))
              * 86400.0)
        + CAST(substr(acknowledged_at, 20, 7) AS REAL) - CAST(substr(opened_at, 20, 7) AS REAL) END,
    CASE WHEN resolved_at IS NULL THEN NULL ELSE
        round((julianday(substr(resolved_at, 1, 19)) - julianday(substr(opened_at, 1, 19)))
              * 86400.0)
        + CAST(substr(resolved_at, 20, 7) AS REAL) - CAST(substr(opened_at, 20, 7) AS REAL) END
FROM alarms;
