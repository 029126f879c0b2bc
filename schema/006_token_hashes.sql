-- 006_token_hashes.sql: run tokens are kept only as SHA-256 hashes
-- (docs/security.md).
--
-- A copy of the database (or a backup of it) must not let anyone ingest
-- into a live run: the daemon keeps the hex SHA-256 of each run's token and
-- hashes the token a request presents. la_sha256() is defined by the
-- daemon while it migrates; the clear tokens are overwritten in the file
-- (secure_delete) and the WAL is truncated afterwards.

ALTER TABLE slurm_jobs ADD COLUMN token_sha256 TEXT NOT NULL DEFAULT '';
UPDATE slurm_jobs SET token_sha256 = la_sha256(token) WHERE token <> '';
ALTER TABLE slurm_jobs DROP COLUMN token;
