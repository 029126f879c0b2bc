-- The best alpha per rank and lr of every sweep (mean final eval loss over
-- seeds; points with a diverged seed never win), with alpha / r and
-- alpha / sqrt(r) to see which grows like the optimum.
--   sqlite3 -box loralpha.db < examples/sql/best-alpha.sql
SELECT sweep_id, lr, rank, best_alpha,
       printf('%.3g', mean_loss) AS loss, seeds,
       printf('%.2f', best_alpha / rank) AS alpha_over_r,
       printf('%.2f', best_alpha / sqrt(rank)) AS alpha_over_sqrt_r
FROM best_alpha ORDER BY sweep_id, lr, rank;
