-- 016_run_order.sql: a sweep's queued runs start largest rank first
-- (docs/daemon.md "Which run starts next").
--
-- Within a sweep every run trains the same task for the same steps, and a
-- run's cost grows with its rank; starting the costliest first (longest
-- processing time first) leaves small runs to fill the cores at the end of
-- the sweep instead of one large run training alone while a core idles.
-- This index serves that order.

CREATE INDEX runs_by_sweep_queue ON runs (sweep_id, state, rank DESC, id);
