-- 010_sweep_failed.sql: a sweep that ends without a result is 'failed',
-- with an error saying why, and a sweep whose runs keep failing the same
-- way is stopped (docs/sweeps.md#when-runs-fail, docs/database.md).
--
-- SQLite cannot change a CHECK constraint in place: the sweeps table is
-- made again with the new one and its rows copied (ids kept), and the views
-- that read it are dropped first and made again after.

DROP VIEW run_summary;
DROP VIEW sweep_progress;
DROP VIEW user_usage;
DROP VIEW law_fits;
DROP INDEX sweeps_by_owner;

CREATE TABLE sweeps_new (
  id             INTEGER PRIMARY KEY,
  name           TEXT    NOT NULL,
  spec           TEXT    NOT NULL,        -- the validated spec, defaults filled (JSON)
  state          TEXT    NOT NULL DEFAULT 'active'
                         CHECK (state IN ('active', 'done', 'failed', 'cancelled')),
  priority       INTEGER NOT NULL DEFAULT 0,
  max_parallel   INTEGER NOT NULL DEFAULT 0,
  max_attempts   INTEGER NOT NULL DEFAULT 2,
  seed           INTEGER NOT NULL,
  n_runs         INTEGER NOT NULL,
  created_at     REAL    NOT NULL,
  finished_at    REAL,
  owner          TEXT,
  paused         INTEGER NOT NULL DEFAULT 0,
  window_start   INTEGER,
  window_end     INTEGER,
  window_requeue INTEGER NOT NULL DEFAULT 0,
  -- 'failed': why (every run failed, or the error that stopped it early)
  error          TEXT,
  -- failed attempts in a row with the same error text, and that text; a
  -- run that ends done or diverged sets them back to 0 and NULL
  fail_streak    INTEGER NOT NULL DEFAULT 0,
  fail_error     TEXT
);
INSERT INTO sweeps_new (id, name, spec, state, priority, max_parallel,
                        max_attempts, seed, n_runs, created_at, finished_at,
                        owner, paused, window_start, window_end,
                        window_requeue)
SELECT id, name, spec, state, priority, max_parallel, max_attempts, seed,
       n_runs, created_at, finished_at, owner, paused, window_start,
       window_end, window_requeue
FROM sweeps;
DROP TABLE sweeps;
ALTER TABLE sweeps_new RENAME TO sweeps;
CREATE INDEX sweeps_by_owner ON sweeps (owner, state);

-- Sweeps that ended 'done' without any run done or diverged failed.
UPDATE sweeps SET state = 'failed',
  error = 'no run finished: ' ||
          (SELECT COUNT(*) FROM runs r WHERE r.sweep_id = sweeps.id AND r.state = 'failed') ||
          ' failed, ' ||
          (SELECT COUNT(*) FROM runs r WHERE r.sweep_id = sweeps.id AND r.state = 'cancelled') ||
          ' cancelled' ||
          coalesce('; the last error: ' ||
                   (SELECT r.error FROM runs r WHERE r.sweep_id = sweeps.id AND r.error IS NOT NULL
                    ORDER BY r.finished_at DESC, r.id DESC LIMIT 1), '')
WHERE state = 'done'
  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.sweep_id = sweeps.id
                  AND r.state IN ('done', 'diverged'));

CREATE VIEW run_summary AS
SELECT r.id AS run_id, r.sweep_id, s.name AS sweep, r.rank, r.alpha, r.lr,
       r.seed_index, r.seed, r.state, r.attempts, r.steps_done,
       r.final_train_loss, r.final_eval_loss, r.best_eval_loss, r.best_step,
       r.wall_s, r.error
FROM runs r JOIN sweeps s ON s.id = r.sweep_id;

-- Runs per state for every sweep; progress counts the runs that finished
-- by themselves (done, diverged, failed), as the API's does.
CREATE VIEW sweep_progress AS
SELECT s.id AS sweep_id, s.name, s.owner, s.state, s.paused, s.n_runs,
       SUM(r.state = 'queued') AS queued, SUM(r.state = 'running') AS running,
       SUM(r.state = 'done') AS done, SUM(r.state = 'failed') AS failed,
       SUM(r.state = 'diverged') AS diverged, SUM(r.state = 'cancelled') AS cancelled,
       CAST(SUM(r.state IN ('done', 'diverged', 'failed')) AS REAL) /
         max(COUNT(r.id), 1) AS progress,
       s.error
FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id
GROUP BY s.id;

CREATE VIEW user_usage AS
SELECT s.owner, SUM(r.state = 'queued') AS queued,
       SUM(r.state = 'running') AS running, SUM(r.state = 'done') AS done,
       SUM(r.state IN ('failed', 'diverged')) AS failed_or_diverged,
       SUM(CASE WHEN r.state = 'done' THEN r.wall_s ELSE 0 END) / 3600.0 AS worker_hours
FROM sweeps s JOIN runs r ON r.sweep_id = s.id
GROUP BY s.owner;

CREATE VIEW law_fits AS
SELECT f.sweep_id, s.name AS sweep, f.lr, f.method, f.c, f.c_lo, f.c_hi, f.p,
       f.p_lo, f.p_hi, f.r2, f.n, f.n_excluded, f.poor
FROM fits f JOIN sweeps s ON s.id = f.sweep_id
WHERE f.fraction = 1;
