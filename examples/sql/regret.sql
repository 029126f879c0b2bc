-- What alpha = r, alpha = 2r and rsLoRA's alpha = 16 lose against alpha*:
-- regret = loss at the rule's alpha / loss at alpha* - 1 (NULL outside the grid).
--   sqlite3 -box loralpha.db < examples/sql/regret.sql
SELECT sweep_id, lr, rank, rule, alpha, printf('%.3g', loss) AS loss,
       printf('%.3g', best_loss) AS best, printf('%.1f%%', 100 * regret) AS regret
FROM heuristic_regret ORDER BY sweep_id, lr, rank, rule;
