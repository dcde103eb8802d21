-- A redelivered bad message (worker killed between commit and ack, broker restored from an
-- older save) must be dead-lettered once: dedup_key is sha256(topic || 0x00 || payload),
-- computed by the store on insert, unique. Rows from before this migration keep NULL (a
-- unique index allows many NULLs), so they are never merged with each other retroactively.
ALTER TABLE dead_letters ADD COLUMN dedup_key bytea;
CREATE UNIQUE INDEX dead_letters_dedup ON dead_letters (dedup_key);
