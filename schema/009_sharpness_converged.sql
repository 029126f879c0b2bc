-- 008_sharpness_converged.sql: whether each sharpness estimate converged
-- (docs/database.md, docs/metrics.md).
--
-- The worker's Lanczos iteration stops when the top Ritz pair's residual
-- ||Hx - lambda x|| is within its tolerance of |lambda|, or at its cap. Each
-- estimate (LoRA, full) gets that residual and a flag: 1 converged, 0 the
-- cap stopped it first, NULL unknown (rows of older workers, which did not
-- report it). Summaries leave out the estimates flagged 0 and keep NULL.

ALTER TABLE sharpness ADD COLUMN lora_residual REAL;
ALTER TABLE sharpness ADD COLUMN lora_converged INTEGER
  CHECK (lora_converged IN (0, 1));
ALTER TABLE sharpness ADD COLUMN full_residual REAL;
ALTER TABLE sharpness ADD COLUMN full_converged INTEGER
  CHECK (full_converged IN (0, 1));

-- Every estimate with its unconverged values blanked: lora (full) is NULL
-- where lora_converged (full_converged) is 0, ratio where either is.
-- Unknown flags (NULL) count as converged. What every summary of
-- sharpness reads.
CREATE VIEW sharpness_converged AS
SELECT run_id, step,
       CASE WHEN lora_converged = 0 THEN NULL ELSE lora END AS lora,
       CASE WHEN full_converged = 0 THEN NULL ELSE full END AS full,
       CASE WHEN lora_converged = 0 OR full_converged = 0 THEN NULL
            ELSE ratio END AS ratio,
       lora_converged, full_converged, rows
FROM sharpness;

-- The last estimate of every finished run, summarised per (sweep, rank,
-- lr, alpha) over seeds: the means of the converged values, how many runs
-- each mean is over, and how many estimates were left out as unconverged.
CREATE VIEW sharpness_by_alpha AS
SELECT r.sweep_id, r.rank, r.lr, r.alpha,
       AVG(c.lora) AS lora, COUNT(c.lora) AS lora_n,
       SUM(c.lora_converged IS 0) AS lora_unconverged,
       AVG(c.full) AS full, COUNT(c.full) AS full_n,
       SUM(c.full_converged IS 0) AS full_unconverged,
       AVG(c.ratio) AS ratio, COUNT(c.ratio) AS ratio_n
FROM runs r
JOIN sharpness_converged c ON c.run_id = r.id
 AND c.step = (SELECT MAX(step) FROM sharpness WHERE run_id = r.id)
WHERE r.state = 'done'
GROUP BY r.sweep_id, r.rank, r.lr, r.alpha;
