-- 005_slurm.sql: runs given to Slurm (docs/slurm.md).
--
-- One row per run that has been handed to Slurm, for its latest attempt.
-- The row is written, with the run marked running, before sbatch is called,
-- so a daemon that restarts finds every job it may have submitted.

CREATE TABLE slurm_jobs (
  run_id       INTEGER PRIMARY KEY REFERENCES runs (id),
  sweep_id     INTEGER NOT NULL REFERENCES sweeps (id),
  attempt      INTEGER NOT NULL,          -- the run's attempt this job is
  array_id     INTEGER,                   -- Slurm's array job id (NULL until sbatch answered)
  task         INTEGER NOT NULL,          -- the run's index in the array
  token        TEXT    NOT NULL,          -- 256 random bits (hex): only this may ingest into run_id
  state        TEXT    NOT NULL DEFAULT 'submitting'
                       CHECK (state IN ('submitting', 'submitted', 'ended')),
  slurm_state  TEXT,                      -- the last state Slurm reported (PENDING, RUNNING, ...)
  script       TEXT    NOT NULL,          -- the sbatch script of its array
  submitted_at REAL    NOT NULL,
  ended_at     REAL
);
CREATE INDEX slurm_jobs_by_state ON slurm_jobs (state, sweep_id);
