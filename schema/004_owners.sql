-- 004_owners.sql: who owns a sweep, pausing, and start windows
-- (docs/database.md).

-- The user who submitted the sweep (from the Unix socket's peer or the
-- bearer token). Sweeps from before owners belong to the daemon's user.
ALTER TABLE sweeps ADD COLUMN owner TEXT;
-- 1: nothing of it starts (its running runs finished or were requeued).
ALTER TABLE sweeps ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
-- Its runs start only in [window_start, window_end), local minutes of the
-- day (across midnight when start > end); NULL: any time. window_requeue 1:
-- outside the window running runs are stopped and queued again.
ALTER TABLE sweeps ADD COLUMN window_start INTEGER;
ALTER TABLE sweeps ADD COLUMN window_end INTEGER;
ALTER TABLE sweeps ADD COLUMN window_requeue INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sweeps_by_owner ON sweeps (owner, state);

DROP VIEW sweep_progress;
CREATE VIEW sweep_progress AS
SELECT s.id AS sweep_id, s.name, s.owner, s.state, s.paused, s.n_runs,
       SUM(r.state = 'queued') AS queued, SUM(r.state = 'running') AS running,
       SUM(r.state = 'done') AS done, SUM(r.state = 'failed') AS failed,
       SUM(r.state = 'diverged') AS diverged, SUM(r.state = 'cancelled') AS cancelled
FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id
GROUP BY s.id;

-- Runs per owner and state: who is using the machine.
CREATE VIEW user_usage AS
SELECT s.owner, SUM(r.state = 'queued') AS queued,
       SUM(r.state = 'running') AS running, SUM(r.state = 'done') AS done,
       SUM(r.state IN ('failed', 'diverged')) AS failed_or_diverged,
       SUM(CASE WHEN r.state = 'done' THEN r.wall_s ELSE 0 END) / 3600.0 AS worker_hours
FROM sweeps s JOIN runs r ON r.sweep_id = s.id
GROUP BY s.owner;
