-- Server-side web sessions: the cookie carries a random id, the store keeps its hash, so a
-- session ends for every worker the moment its row is deleted (logout, password change, ...).
CREATE TABLE web_sessions (
    id_hash     text PRIMARY KEY,
    username    text        NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    client_addr text
);
CREATE INDEX web_sessions_user ON web_sessions (username);

-- Login throttling per key ('user:NAME' or 'addr:IP'), shared by every web worker.
CREATE TABLE login_throttle (
    key          text PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    last_failure timestamptz NOT NULL,
    locked_until timestamptz,
    -- set once a throttled burst is audited, cleared by the next real attempt
    audited      boolean     NOT NULL DEFAULT false
);

-- One row per lookup that reached the directory, taken under a per-user lock before the
-- directory is asked, so parallel requests cannot overrun the limit.
CREATE TABLE lookup_slots (
    id       bigserial PRIMARY KEY,
    username text        NOT NULL,
    ts       timestamptz NOT NULL
);
CREATE INDEX lookup_slots_user_ts ON lookup_slots (username, ts DESC);

-- The province an audit row concerns; NULL is national (and every row written before).
ALTER TABLE audit_log ADD COLUMN province text;
CREATE INDEX audit_log_province_id ON audit_log (province, id DESC);
