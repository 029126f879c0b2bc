-- 017_halving.sql: runs cut into stints by the "halving" search
-- (docs/sweeps.md "halving", docs/database.md).
--
-- A halving sweep's run trains to a rung (stop_at, a step before its
-- steps), then waits ('waiting') while its cell (rank, alpha, lr) is
-- decided: promoted, it is queued again to train from step 0 to its next
-- stop (an exact replay of the steps up to resume_at, whose rows are kept
-- and not sent again); stopped, it ends 'stopped', a normal end with its
-- partial curve. earlier_steps and earlier_wall_s add up its earlier
-- stints, so that what a sweep spent is SUM(steps_done + earlier_steps).
--
-- SQLite cannot change a CHECK constraint in place: the runs table is made
-- again with the new states and columns and its rows copied (ids kept).
-- legacy_alter_table keeps the rename from checking the views that read
-- runs while the old table is gone; they read the new one by its name.

PRAGMA legacy_alter_table = ON;

CREATE TABLE runs_new (
  id               INTEGER PRIMARY KEY,
  sweep_id         INTEGER NOT NULL REFERENCES sweeps (id),
  idx              INTEGER NOT NULL,     -- position in the sweep's expansion
  rank             INTEGER NOT NULL,
  alpha            REAL    NOT NULL,
  lr               REAL    NOT NULL,
  seed_index       INTEGER NOT NULL,
  seed             INTEGER NOT NULL,
  config           TEXT    NOT NULL,     -- the worker config (JSON)
  state            TEXT    NOT NULL DEFAULT 'queued'
                           CHECK (state IN ('queued', 'running', 'done', 'failed',
                                            'diverged', 'cancelled', 'waiting',
                                            'stopped')),
  attempts         INTEGER NOT NULL DEFAULT 0,  -- of its current stint
  created_at       REAL    NOT NULL,
  started_at       REAL,
  finished_at      REAL,
  steps_done       INTEGER,
  final_train_loss REAL,
  final_eval_loss  REAL,
  best_eval_loss   REAL,
  best_step        INTEGER,
  wall_s           REAL,                 -- of its last stint
  error            TEXT,                 -- why it failed (worker error, stderr tail)
  worker_pid       INTEGER,
  stop_at          INTEGER,              -- halving: its stint stops at this step (NULL: at steps)
  resume_at        INTEGER NOT NULL DEFAULT 0,   -- rows up to this step are from earlier stints
  earlier_steps    INTEGER NOT NULL DEFAULT 0,   -- steps trained by its earlier stints
  earlier_wall_s   REAL    NOT NULL DEFAULT 0,   -- their wall seconds
  UNIQUE (sweep_id, idx)
);
INSERT INTO runs_new (id, sweep_id, idx, rank, alpha, lr, seed_index, seed,
                      config, state, attempts, created_at, started_at,
                      finished_at, steps_done, final_train_loss,
                      final_eval_loss, best_eval_loss, best_step, wall_s,
                      error, worker_pid)
SELECT id, sweep_id, idx, rank, alpha, lr, seed_index, seed, config, state,
       attempts, created_at, started_at, finished_at, steps_done,
       final_train_loss, final_eval_loss, best_eval_loss, best_step, wall_s,
       error, worker_pid
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_by_sweep_state ON runs (sweep_id, state, id);
CREATE INDEX runs_by_state ON runs (state);
CREATE INDEX runs_by_point ON runs (sweep_id, rank, lr, alpha);
CREATE INDEX runs_by_sweep_queue ON runs (sweep_id, state, rank DESC, id);

PRAGMA legacy_alter_table = OFF;

-- One row per decision on a cell at a rung, in order. A cell's runs (its
-- seeds) move together: promoted, they are queued to their next stop;
-- stopped, the ones waiting end 'stopped'.
CREATE TABLE halving_decisions (
  sweep_id   INTEGER NOT NULL REFERENCES sweeps (id),
  seq        INTEGER NOT NULL,   -- 1, 2, ... in the order they were taken
  rank       INTEGER NOT NULL,
  alpha      REAL    NOT NULL,
  lr         REAL    NOT NULL,
  rung       INTEGER NOT NULL,   -- 1, 2, ... (the rank's effective rungs)
  step       INTEGER NOT NULL,   -- the rung's step
  loss       REAL,               -- mean eval loss of its seeds there (NULL:
                                 -- a seed diverged or failed)
  place      INTEGER NOT NULL,   -- 1 = the best of the cells that reached it
  reached    INTEGER NOT NULL,   -- how many cells had reached it then
  promoted   INTEGER NOT NULL,   -- how many it had promoted before
  quota      INTEGER NOT NULL,   -- how many it promotes in all, at most
  action     TEXT    NOT NULL CHECK (action IN ('promote', 'stop')),
  kind       TEXT    NOT NULL,   -- promote: top, closed; stop: diverged,
                                 -- outranked, full, closed
  next_stop  INTEGER,            -- promote: its next stint's stop (NULL: the end)
  run_id     INTEGER,            -- the run whose end led to it
  why        TEXT    NOT NULL,
  created_at REAL    NOT NULL,
  PRIMARY KEY (sweep_id, seq)
) WITHOUT ROWID;

-- One row per cell (rank, alpha, lr) of a halving sweep: how far it went
-- and what it spent.
CREATE VIEW halving_cells AS
SELECT r.sweep_id, r.rank, r.alpha, r.lr, COUNT(*) AS seeds,
       (SELECT COUNT(*) FROM halving_decisions d WHERE d.sweep_id = r.sweep_id
          AND d.rank = r.rank AND d.alpha = r.alpha AND d.lr = r.lr
          AND d.action = 'promote') AS promotions,
       CASE WHEN SUM(r.state IN ('queued', 'running')) > 0 THEN 'training'
            WHEN SUM(r.state = 'waiting') > 0 THEN 'waiting'
            WHEN SUM(r.state = 'stopped') > 0 THEN 'stopped'
            WHEN SUM(r.state = 'diverged') > 0 THEN 'diverged'
            WHEN SUM(r.state = 'failed') > 0 THEN 'failed'
            WHEN SUM(r.state = 'cancelled') > 0 THEN 'cancelled'
            ELSE 'done' END AS state,
       MAX(r.steps_done) AS steps_done,
       AVG(r.final_eval_loss) AS eval_loss,
       COALESCE(SUM(r.steps_done), 0) + SUM(r.earlier_steps) AS run_steps,
       COALESCE(SUM(r.wall_s), 0) + SUM(r.earlier_wall_s) AS cpu_s
FROM runs r JOIN sweeps s ON s.id = r.sweep_id
WHERE json_extract(s.spec, '$.search.strategy') = 'halving'
GROUP BY r.sweep_id, r.rank, r.alpha, r.lr;
