-- What alpha = r, alpha = 2r and rsLoRA's alpha = 16 lose against alpha*:
-- regret = loss at the rule's alpha / loss at alpha* - 1. A rule whose
-- alpha is outside the grid has no loss and no regret: '-', never 0%.
--   sqlite3 -box loralpha.db < examples/sql/regret.sql
SELECT sweep_id, lr, rank, rule, alpha,
       iif(loss IS NULL, '-', printf('%.3g', loss)) AS loss,
       iif(best_loss IS NULL, '-', printf('%.3g', best_loss)) AS best,
       iif(regret IS NULL, '-', printf('%.1f%%', 100 * regret)) AS regret
FROM heuristic_regret ORDER BY sweep_id, lr, rank, rule;
