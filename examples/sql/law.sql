-- The fitted law alpha* = c r^p (p free, and p fixed at 0.5) at the full
-- budget, and how it moves with the budget (filled when a sweep finishes).
-- A value that is NULL (no interval: p of the sqrt(r) fit, a failed
-- bootstrap) shows as '-', never as 0 (printf would print NULL as 0).
--   sqlite3 -box loralpha.db < examples/sql/law.sql
SELECT sweep, lr, method,
       iif(c IS NULL, '-', printf('%.3g', c)) || ' [' ||
         iif(c_lo IS NULL, '-', printf('%.3g', c_lo)) || ', ' ||
         iif(c_hi IS NULL, '-', printf('%.3g', c_hi)) || ']' AS c,
       iif(p IS NULL, '-', printf('%.3f', p)) || ' [' ||
         iif(p_lo IS NULL, '-', printf('%.3f', p_lo)) || ', ' ||
         iif(p_hi IS NULL, '-', printf('%.3f', p_hi)) || ']' AS p,
       iif(r2 IS NULL, '-', printf('%.3f', r2)) AS r2, n, n_excluded, poor
FROM law_fits ORDER BY sweep_id, lr, method;

SELECT sweep_id, lr, method, fraction, step,
       iif(c IS NULL, '-', printf('%.3g', c)) AS c,
       iif(p IS NULL, '-', printf('%.3f', p)) AS p, n, poor
FROM law_by_budget;
