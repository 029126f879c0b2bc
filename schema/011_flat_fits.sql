-- 011_flat_fits.sql: alpha*'s flat set and overall interval, and the
-- fits' residual scatter and insufficiency (docs/analysis.md "Flat
-- optima" and "Too little data", docs/database.md). Rows stored before
-- have NULL in the new interval and scatter columns and 0 in the flags
-- until their sweep is analysed again.

ALTER TABLE alpha_star ADD COLUMN flat_lo REAL;  -- flat set's hull, alpha
ALTER TABLE alpha_star ADD COLUMN flat_hi REAL;
ALTER TABLE alpha_star ADD COLUMN lo REAL;       -- hull of ci and flat set
ALTER TABLE alpha_star ADD COLUMN hi REAL;
ALTER TABLE alpha_star ADD COLUMN flat INTEGER NOT NULL DEFAULT 0;

ALTER TABLE fits ADD COLUMN scatter_log2 REAL;   -- RMS residual, octaves
ALTER TABLE fits ADD COLUMN insufficient INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fits ADD COLUMN reason TEXT;         -- why it is insufficient

DROP VIEW law_fits;
CREATE VIEW law_fits AS
SELECT f.sweep_id, s.name AS sweep, f.lr, f.method, f.c, f.c_lo, f.c_hi, f.p,
       f.p_lo, f.p_hi, f.r2, f.n, f.n_excluded, f.poor, f.scatter_log2,
       f.insufficient, f.reason
FROM fits f JOIN sweeps s ON s.id = f.sweep_id
WHERE f.fraction = 1;
