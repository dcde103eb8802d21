-- The generic event rollups (hour x province x kind, day x ward x kind) were written on
-- every batch and read by no screen. The KPI history lives in the kpi_* tables
-- (kpi_hourly_*, kpi_daily_*, kpi_trips, kpi_cameras, kpi_camera_downtime,
-- kpi_village_outages, kpi_alarm_facts), which keep their counts when events are dropped.
DROP TABLE IF EXISTS rollup_hourly;
DROP TABLE IF EXISTS rollup_daily_ward;
