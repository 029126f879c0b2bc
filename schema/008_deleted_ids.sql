-- 008_deleted_ids.sql: the ids of deleted sweeps and runs are never given
-- again (docs/database.md, "Deleting a sweep").
--
-- SQLite gives a new row the largest id in use + 1, so deleting the newest
-- sweep would hand its id (and its runs' ids) to the next sweep: a script,
-- a report or a dashboard tab that still names the old id would show
-- another sweep. DELETE /v1/sweeps/{id} records here the largest sweep and
-- run id it removed; the daemon gives a new sweep or run an id above both
-- this and every id in use.

CREATE TABLE deleted_ids (
  tbl    TEXT    PRIMARY KEY CHECK (tbl IN ('sweeps', 'runs')),
  max_id INTEGER NOT NULL
);
