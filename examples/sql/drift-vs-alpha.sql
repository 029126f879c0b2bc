-- Drift ratio and signal at the last logged step against alpha (at each lr)
-- for one sweep: alpha should raise the signal at a constant drift ratio,
-- lr should raise both ('-': not measured). Set the sweep id below.
--   sqlite3 -box loralpha.db < examples/sql/drift-vs-alpha.sql
WITH last AS (
  SELECT d.*, r.rank, r.alpha, r.lr FROM drift d JOIN runs r ON r.id = d.run_id
  WHERE r.sweep_id = 1 AND r.state = 'done'
    AND d.step = (SELECT MAX(step) FROM drift WHERE run_id = d.run_id))
SELECT rank, lr, alpha, COUNT(DISTINCT run_id) AS seeds,
       iif(AVG(drift_ratio) IS NULL, '-', printf('%.4g', AVG(drift_ratio))) AS drift_ratio,
       iif(AVG(signal) IS NULL, '-', printf('%.4g', AVG(signal))) AS signal,
       iif(AVG(mech_ratio) IS NULL, '-', printf('%.4g', AVG(mech_ratio))) AS mech_ratio
FROM last GROUP BY rank, lr, alpha ORDER BY rank, lr, alpha;
