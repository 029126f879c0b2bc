-- Failed runs and why.
--   sqlite3 loralpha.db < examples/sql/failed.sql
SELECT run_id, sweep, rank, alpha, lr, attempts, error FROM run_summary WHERE state = 'failed';
