-- Audit filters and the per-user lookup rate limit read by actor/action over time.
-- (SQLite has no roles: the append-only triggers of 0001 are its whole protection.)
CREATE INDEX audit_log_actor_action_ts ON audit_log (actor, action, ts DESC);
CREATE INDEX audit_log_action_ts ON audit_log (action, ts DESC);
