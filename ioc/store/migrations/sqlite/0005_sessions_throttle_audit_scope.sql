-- Server-side web sessions: the cookie carries a random id, the store keeps its hash, so a
-- session ends for every worker the moment its row is deleted (logout, password change, ...).
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    client_addr TEXT
);
CREATE INDEX web_sessions_user ON web_sessions (username);

-- Login throttling per key ('user:NAME' or 'addr:IP'), shared by every web worker.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0,
    last_failure TEXT NOT NULL,
    locked_until TEXT,
    audited      INTEGER NOT NULL DEFAULT 0
);

-- One row per lookup that reached the directory, taken inside BEGIN IMMEDIATE (one writer)
-- before the directory is asked, so parallel requests cannot overrun the limit.
CREATE TABLE lookup_slots (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    ts       TEXT NOT NULL
);
CREATE INDEX lookup_slots_user_ts ON lookup_slots (username, ts DESC);

-- The province an audit row concerns; NULL is national (and every row written before).
ALTER TABLE audit_log ADD COLUMN province TEXT;
CREATE INDEX audit_log_province_id ON audit_log (province, id DESC);
