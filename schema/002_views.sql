-- 002_views.sql: views that answer the common questions from the sqlite3 CLI.

-- One row per run: where it sits in its sweep and how it ended.
CREATE VIEW run_summary AS
SELECT r.id AS run_id, r.sweep_id, s.name AS sweep, r.rank, r.alpha, r.lr,
       r.seed_index, r.seed, r.state, r.attempts, r.steps_done,
       r.final_train_loss, r.final_eval_loss, r.best_eval_loss, r.best_step,
       r.wall_s, r.error
FROM runs r JOIN sweeps s ON s.id = r.sweep_id;

-- Mean final eval loss over seeds at every (sweep, rank, lr, alpha) grid
-- point, over finished runs; a diverged run counts as the worst possible
-- loss (mean_loss is then NULL: the point is unusable), and `seeds` says how
-- many runs finished.
CREATE VIEW alpha_loss AS
SELECT sweep_id, rank, lr, alpha,
       COUNT(*) AS seeds,
       SUM(state = 'diverged') AS diverged,
       CASE WHEN SUM(state = 'diverged') > 0 THEN NULL
            ELSE AVG(final_eval_loss) END AS mean_loss
FROM runs
WHERE state IN ('done', 'diverged')
GROUP BY sweep_id, rank, lr, alpha;

-- The best alpha per sweep, rank and lr: lowest mean final eval loss over
-- seeds (grid points with a diverged run never win).
CREATE VIEW best_alpha AS
SELECT sweep_id, rank, lr, alpha AS best_alpha, mean_loss, seeds
FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY sweep_id, rank, lr
                                     ORDER BY mean_loss IS NULL, mean_loss, alpha) AS pos
      FROM alpha_loss a)
WHERE pos = 1 AND mean_loss IS NOT NULL;

-- Runs per state for every sweep.
CREATE VIEW sweep_progress AS
SELECT s.id AS sweep_id, s.name, s.state, s.n_runs,
       SUM(r.state = 'queued') AS queued, SUM(r.state = 'running') AS running,
       SUM(r.state = 'done') AS done, SUM(r.state = 'failed') AS failed,
       SUM(r.state = 'diverged') AS diverged, SUM(r.state = 'cancelled') AS cancelled
FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id
GROUP BY s.id;
