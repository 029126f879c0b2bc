-- The fitted law alpha* = c r^p (p free, and p fixed at 0.5) at the full
-- budget, and how it moves with the budget (filled when a sweep finishes).
--   sqlite3 -box loralpha.db < examples/sql/law.sql
SELECT sweep, lr, method, printf('%.3g [%.3g, %.3g]', c, c_lo, c_hi) AS c,
       printf('%.3f [%.3f, %.3f]', p, p_lo, p_hi) AS p,
       printf('%.3f', r2) AS r2, n, n_excluded, poor
FROM law_fits ORDER BY sweep_id, lr, method;

SELECT sweep_id, lr, method, fraction, step, printf('%.3g', c) AS c,
       printf('%.3f', p) AS p, n, poor
FROM law_by_budget;
