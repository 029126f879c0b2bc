-- 007_local_workers.sql: the processes of local workers, and the row the
-- daemon writes to learn whether a full disk has room again
-- (docs/database.md, docs/daemon.md).
--
-- One row per running run whose worker the daemon spawned itself (never
-- for Slurm jobs), written right after the spawn and deleted in the
-- transaction that ends the run. A PID may be reused once its process has
-- exited: the start time and the boot's id make the row name one process
-- only. A daemon that restarts ends the processes whose three still match,
-- then requeues their runs (and deletes the rows).

CREATE TABLE local_workers (
  run_id      INTEGER PRIMARY KEY REFERENCES runs (id),
  pid         INTEGER NOT NULL CHECK (pid > 1),
  start_ticks INTEGER NOT NULL,   -- field 22 of /proc/PID/stat: clock ticks after boot
  boot_id     TEXT    NOT NULL,   -- /proc/sys/kernel/random/boot_id when it started
  started_at  REAL    NOT NULL
);

-- One row, rewritten while database writes fail for want of space and
-- nothing else is waiting to be written: the first write that works ends
-- the disk_full state.
CREATE TABLE write_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at REAL NOT NULL
);
