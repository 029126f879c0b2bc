-- Runs per state for every sweep.
--   sqlite3 -box loralpha.db < examples/sql/progress.sql
SELECT sweep_id, name, state, n_runs, queued, running, done, failed, diverged, cancelled
FROM sweep_progress ORDER BY sweep_id;
