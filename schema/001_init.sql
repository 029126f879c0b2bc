-- 001_init.sql: sweeps, runs and everything a run measures.
--
-- One process writes this database: the daemon. Times are Unix seconds
-- (REAL). A run's metric rows are keyed by (run, step[, layer]), so a run
-- that is started again replaces its partial rows instead of adding to them.

CREATE TABLE sweeps (
  id           INTEGER PRIMARY KEY,
  name         TEXT    NOT NULL,
  spec         TEXT    NOT NULL,          -- the validated spec, defaults filled (JSON)
  state        TEXT    NOT NULL DEFAULT 'active'
                       CHECK (state IN ('active', 'done', 'cancelled')),
  priority     INTEGER NOT NULL DEFAULT 0, -- higher starts first
  max_parallel INTEGER NOT NULL DEFAULT 0, -- 0: no per-sweep limit
  max_attempts INTEGER NOT NULL DEFAULT 2,
  seed         INTEGER NOT NULL,
  n_runs       INTEGER NOT NULL,
  created_at   REAL    NOT NULL,
  finished_at  REAL
);

CREATE TABLE runs (
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
                                            'diverged', 'cancelled')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  created_at       REAL    NOT NULL,
  started_at       REAL,
  finished_at      REAL,
  steps_done       INTEGER,
  final_train_loss REAL,
  final_eval_loss  REAL,
  best_eval_loss   REAL,
  best_step        INTEGER,
  wall_s           REAL,
  error            TEXT,                 -- why it failed (worker error, stderr tail)
  UNIQUE (sweep_id, idx)
);
CREATE INDEX runs_by_sweep_state ON runs (sweep_id, state, id);
CREATE INDEX runs_by_state ON runs (state);
CREATE INDEX runs_by_point ON runs (sweep_id, rank, lr, alpha);

-- The loss curves: kind 'train' (the batch loss of update `step`) and
-- 'eval' (the eval split after `step` updates).
CREATE TABLE curve (
  run_id      INTEGER NOT NULL REFERENCES runs (id),
  kind        TEXT    NOT NULL CHECK (kind IN ('train', 'eval')),
  step        INTEGER NOT NULL,
  loss        REAL,
  lr          REAL,
  grad_norm_a REAL,
  grad_norm_b REAL,
  update_norm REAL,
  PRIMARY KEY (run_id, kind, step)
) WITHOUT ROWID;

-- Per layer, once per run: shapes, sigma_max(W0), |dW*|_F (synthetic tasks).
CREATE TABLE layers (
  run_id       INTEGER NOT NULL REFERENCES runs (id),
  layer        INTEGER NOT NULL,
  d_in         INTEGER NOT NULL,
  d_out        INTEGER NOT NULL,
  sigma_max_w0 REAL,
  target_norm  REAL,
  PRIMARY KEY (run_id, layer)
) WITHOUT ROWID;

-- Spectra of dW = s B A per logged step and layer; sv is a JSON array.
CREATE TABLE spectra (
  run_id      INTEGER NOT NULL REFERENCES runs (id),
  step        INTEGER NOT NULL,
  layer       INTEGER NOT NULL,
  sigma_max   REAL,
  fro         REAL,
  stable_rank REAL,
  sv          TEXT,
  PRIMARY KEY (run_id, step, layer)
) WITHOUT ROWID;

-- Signal and drift per logged step and layer (docs/metrics.md): the
-- target-aware family (NULL for tasks without a known target) and the
-- target-free one.
CREATE TABLE drift (
  run_id      INTEGER NOT NULL REFERENCES runs (id),
  step        INTEGER NOT NULL,
  layer       INTEGER NOT NULL,
  signal      REAL,
  drift       REAL,
  drift_ratio REAL,
  cos_target  REAL,
  rel_err     REAL,
  tf_signal   REAL,
  tf_drift    REAL,
  mech_ratio  REAL,
  a_drift     REAL,
  PRIMARY KEY (run_id, step, layer)
) WITHOUT ROWID;

-- Top Hessian eigenvalues w.r.t. the LoRA parameters and the full weights.
CREATE TABLE sharpness (
  run_id     INTEGER NOT NULL REFERENCES runs (id),
  step       INTEGER NOT NULL,
  lora       REAL,
  full       REAL,
  ratio      REAL,
  lora_iters INTEGER,
  full_iters INTEGER,
  rows       INTEGER,
  PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
