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
  kind       TEXT    NOT NULL,   -- extend_down, extend_up, parabolic, probe,
                                 -- golden; converged, limit, max_points,
                                 -- diverged
  alpha      REAL,               -- add: the alpha added (NULL for done)
  best       REAL,               -- the best alpha of the cell then
  lo         REAL,               -- its neighbours: the bracket
  hi         REAL,
  points     INTEGER NOT NULL,   -- the alphas the cell had tried then
  why        TEXT    NOT NULL,
  created_at REAL    NOT NULL,
  PRIMARY KEY (sweep_id, seq)
) WITHOUT ROWID;

-- One row per searched cell: how far its search is, and where alpha* is.
CREATE VIEW search_cells AS
SELECT d.sweep_id, d.rank, d.lr,
       COUNT(*) AS decisions,
       SUM(d.action = 'add') AS added,
       MAX(d.action = 'done') AS done,
       (SELECT x.kind FROM search_decisions x WHERE x.sweep_id = d.sweep_id
          AND x.rank = d.rank AND x.lr = d.lr ORDER BY x.seq DESC LIMIT 1)
         AS last_kind,
       (SELECT x.best FROM search_decisions x WHERE x.sweep_id = d.sweep_id
          AND x.rank = d.rank AND x.lr = d.lr ORDER BY x.seq DESC LIMIT 1)
         AS best_alpha,
       (SELECT x.lo FROM search_decisions x WHERE x.sweep_id = d.sweep_id
          AND x.rank = d.rank AND x.lr = d.lr ORDER BY x.seq DESC LIMIT 1)
         AS lo,
       (SELECT x.hi FROM search_decisions x WHERE x.sweep_id = d.sweep_id
          AND x.rank = d.rank AND x.lr = d.lr ORDER BY x.seq DESC LIMIT 1)
         AS hi,
       (SELECT COUNT(DISTINCT r.alpha) FROM runs r WHERE r.sweep_id = d.sweep_id
          AND r.rank = d.rank AND r.lr = d.lr) AS alphas,
       (SELECT COALESCE(SUM(r.steps_done), 0) FROM runs r
          WHERE r.sweep_id = d.sweep_id AND r.rank = d.rank AND r.lr = d.lr)
         AS run_steps
FROM search_decisions d
GROUP BY d.sweep_id, d.rank, d.lr;
