-- LoRA and full-weight sharpness (top Hessian eigenvalue) at the end of
-- each run against alpha, at each rank and lr, for one sweep: the means
-- over seeds of the converged estimates only, with how many were used and
-- how many stopped at the iteration cap unconverged (docs/metrics.md).
-- Set the sweep id below.
--   sqlite3 -box loralpha.db < examples/sql/sharpness-vs-alpha.sql
SELECT rank, lr, alpha,
       printf('%.4g', lora) AS lora, lora_n, lora_unconverged,
       printf('%.4g', full) AS full, full_n, full_unconverged,
       printf('%.4g', ratio) AS ratio
FROM sharpness_by_alpha WHERE sweep_id = 1
ORDER BY rank, lr, alpha;
