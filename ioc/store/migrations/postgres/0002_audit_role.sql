-- Audit filters and the per-user lookup rate limit read by actor/action over time.
CREATE INDEX audit_log_actor_action_ts ON audit_log (actor, action, ts DESC);
CREATE INDEX audit_log_action_ts ON audit_log (action, ts DESC);

-- ioc_app: the role the application (web, ingest, CLI) connects as; migrations run as the
-- database owner. It may read and write every table, but only SELECT and INSERT on
-- audit_log, so even with the trigger dropped it could not rewrite the trail.
-- Roles are cluster-wide: create it once, tolerating a concurrent migration elsewhere.
-- It has no password here: set one (ALTER ROLE ioc_app PASSWORD ...) and use it in IOC_DB_URL.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_app') THEN
        CREATE ROLE ioc_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO ioc_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ioc_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ioc_app;
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM ioc_app;
-- The application reads the schema version but never changes it.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM ioc_app;

-- Tables of later migrations (run by the same owner) get the same read/write grants;
-- a later append-only table must REVOKE as above.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ioc_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ioc_app;
