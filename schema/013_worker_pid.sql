-- 013_worker_pid.sql: which worker process trained each run
-- (docs/database.md, docs/daemon.md "Warm workers").
--
-- runs.worker_pid is the PID of the local worker that trained the run's
-- last attempt (NULL: none yet, or a Slurm or imported run). A warm worker
-- trains many runs, so several runs show the same PID; it is written with
-- the worker's row in local_workers, by the trigger below, and stays after
-- that row is deleted at the run's end.

ALTER TABLE runs ADD COLUMN worker_pid INTEGER;

CREATE TRIGGER runs_worker_pid AFTER INSERT ON local_workers
BEGIN
  UPDATE runs SET worker_pid = NEW.pid WHERE id = NEW.run_id;
END;
