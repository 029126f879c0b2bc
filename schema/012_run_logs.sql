-- 012_run_logs.sql: a command task's run keeps its trainer's log (its
-- stdout and stderr), bounded: the first 16 KiB and the last 48 KiB, with a
-- line saying how many bytes between them were left out
-- (docs/sweeps.md#the-command-task). One row per run: the last attempt's.

CREATE TABLE run_logs (
  run_id  INTEGER PRIMARY KEY REFERENCES runs (id),
  attempt INTEGER NOT NULL,   -- the attempt that wrote it (1-based)
  bytes   INTEGER NOT NULL,   -- bytes the trainer wrote in all
  log     TEXT    NOT NULL    -- what was kept (UTF-8; invalid bytes as '?')
);
