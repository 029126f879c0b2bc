-- 003_analysis.sql: what the analysis of a sweep found (docs/analysis.md).
-- Rows are replaced each time a sweep is analysed.

-- alpha*(r) per checkpoint of the budget and lr.
CREATE TABLE alpha_star (
  sweep_id       INTEGER NOT NULL REFERENCES sweeps (id),
  fraction       REAL    NOT NULL,  -- of the training steps: 0.25, 0.5, 1
  step           INTEGER NOT NULL,
  rank           INTEGER NOT NULL,
  lr             REAL    NOT NULL,
  alpha_grid     REAL    NOT NULL,  -- best grid alpha
  alpha          REAL    NOT NULL,  -- refined below the grid's resolution
  loss           REAL,              -- mean eval loss over seeds at alpha_grid
  at_edge        INTEGER NOT NULL,  -- 1: the grid is too narrow here
  ci_lo          REAL,
  ci_hi          REAL,
  ill_determined INTEGER NOT NULL,
  weight         REAL    NOT NULL,  -- in the fit (0: excluded)
  seeds          INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, fraction, lr, rank)
) WITHOUT ROWID;

-- The law alpha* = c r^p per checkpoint and lr; method 'free' (p fitted)
-- or 'sqrt' (p fixed at 0.5).
CREATE TABLE fits (
  sweep_id    INTEGER NOT NULL REFERENCES sweeps (id),
  fraction    REAL    NOT NULL,
  step        INTEGER NOT NULL,
  lr          REAL    NOT NULL,
  method      TEXT    NOT NULL CHECK (method IN ('free', 'sqrt')),
  c           REAL,
  c_lo        REAL,
  c_hi        REAL,
  p           REAL,
  p_lo        REAL,
  p_hi        REAL,
  r2          REAL,
  n           INTEGER NOT NULL,  -- ranks in the fit
  n_excluded  INTEGER NOT NULL,  -- at the grid's edge or ill-determined
  poor        INTEGER NOT NULL,
  computed_at REAL    NOT NULL,
  PRIMARY KEY (sweep_id, fraction, lr, method)
) WITHOUT ROWID;

-- The loss each heuristic leaves on the table, per checkpoint, rank and lr.
CREATE TABLE regret (
  sweep_id  INTEGER NOT NULL REFERENCES sweeps (id),
  fraction  REAL    NOT NULL,
  step      INTEGER NOT NULL,
  rank      INTEGER NOT NULL,
  lr        REAL    NOT NULL,
  rule      TEXT    NOT NULL,
  alpha     REAL    NOT NULL,
  loss      REAL,
  best_loss REAL,
  regret    REAL,
  PRIMARY KEY (sweep_id, fraction, lr, rank, rule)
) WITHOUT ROWID;

-- The whole analysis as the API serves it, and what it was computed from.
CREATE TABLE analyses (
  sweep_id    INTEGER PRIMARY KEY REFERENCES sweeps (id),
  finished    INTEGER NOT NULL,  -- finished runs when computed
  last_finish REAL,              -- the latest finished_at then
  computed_at REAL    NOT NULL,
  result      TEXT    NOT NULL   -- JSON
);

-- The law at the full budget, with the sweep's name.
CREATE VIEW law_fits AS
SELECT f.sweep_id, s.name AS sweep, f.lr, f.method, f.c, f.c_lo, f.c_hi, f.p,
       f.p_lo, f.p_hi, f.r2, f.n, f.n_excluded, f.poor
FROM fits f JOIN sweeps s ON s.id = f.sweep_id
WHERE f.fraction = 1;

-- How p and c move with the training budget.
CREATE VIEW law_by_budget AS
SELECT sweep_id, lr, method, fraction, step, c, p, r2, n, poor
FROM fits ORDER BY sweep_id, lr, method, fraction;

-- Regret of each heuristic at the full budget.
CREATE VIEW heuristic_regret AS
SELECT sweep_id, rank, lr, rule, alpha, loss, best_loss, regret
FROM regret WHERE fraction = 1;
