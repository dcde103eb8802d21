-- A redelivered bad message (worker killed between commit and ack, broker restored from an
-- older save) must be dead-lettered once: dedup_key is sha256(topic || 0x00 || payload),
-- computed by the store on insert, unique. Rows from before this migration keep NULL (a
-- unique index allows many NULLs), so they are never merged with each other retroactively.
ALTER TABLE dead_letters ADD COLUMN dedup_key blob;
CREATE UNIQUE INDEX dead_letters_dedup ON dead_letters (dedup_key);

-- Worker layouts of `ioc ingest --workers N` (one broker session per partition, client ids
-- NAME-IofN). A layout stays here until every one of its sessions has been drained and
-- ended, so a change of N interrupted by a crash resumes the drain at the next start.
CREATE TABLE ingest_layouts (
    name        text    NOT NULL,
    workers     integer NOT NULL,
    recorded_at text NOT NULL,
    PRIMARY KEY (name, workers)
);
