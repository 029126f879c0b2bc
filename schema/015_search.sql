-- 015_search.sql: the decisions of a sweep's search along alpha
-- (docs/sweeps.md "search", docs/database.md).
--
-- A sweep whose spec has "search": {"strategy": "bracket", ...} starts
-- with its grid's alphas; each time the last run of a cell (rank, lr) ends,
-- the daemon decides, in the same transaction as that run's end, either to
-- add one alpha to the cell (a run per seed, paired as the grid's are) or
-- that the cell is done. One row per decision, in order.

CREATE TABLE search_decisions (
  sweep_id   INTEGER NOT NULL REFERENCES sweeps (id),
  seq        INTEGER NOT NULL,   -- 1, 2, ... in the order they were taken
  rank       INTEGER NOT NULL,
  lr         REAL    NOT NULL,
  run_id     INTEGER,            -- the run whose end led to it
  action     TEXT    NOT NULL CHECK (action IN ('add', 'done')),
  kind       TEXT    NOT NULL,   -- extend_down, extend_up, edge, parabolic,
                                 -- probe, golden, law (a start from the
                                 -- law: best, lo, hi its prediction);
                                 -- converged, limit, max_points, diverged
  alpha      REAL,               -- add: the alpha added (NULL for done)
  best       REAL,               -- the best alpha of the cell then
  lo         REAL,               -- its neighbours: the bracket
  hi         REAL,
  points     INTEGER NOT NULL,   -- the alphas the cell had tried then
  why        TEXT    NOT NULL,
  created_at REAL    NOT NULL,
  PRIMARY KEY (sweep_id, seq)
) WITHOUT ROWID;

-- One row per searched cell: how far its search is (from its last
-- decision), and what it ran.
CREATE VIEW search_cells AS
SELECT c.sweep_id, c.rank, c.lr, c.decisions, c.added, c.done,
       l.kind AS last_kind, l.best AS best_alpha, l.lo, l.hi,
       (SELECT COUNT(DISTINCT r.alpha) FROM runs r WHERE r.sweep_id = c.sweep_id
          AND r.rank = c.rank AND r.lr = c.lr) AS alphas,
       (SELECT COALESCE(SUM(r.steps_done), 0) FROM runs r
          WHERE r.sweep_id = c.sweep_id AND r.rank = c.rank AND r.lr = c.lr)
         AS run_steps
FROM (SELECT sweep_id, rank, lr, COUNT(*) AS decisions,
             SUM(action = 'add') AS added, MAX(action = 'done') AS done,
             MAX(seq) AS last_seq
      FROM search_decisions GROUP BY sweep_id, rank, lr) c
JOIN search_decisions l ON l.sweep_id = c.sweep_id AND l.seq = c.last_seq;
