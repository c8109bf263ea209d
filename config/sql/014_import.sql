-- List imports (POST /api/v1/me/import, the sync actor): one job per file.
-- The file itself is kept until the job is done, so that a sync process
-- that stops half-way through a large file resumes it (a restarted or
-- another replica claims the job once its lease has run out) from the last
-- chunk it recorded; the report grows with each chunk in the same UPDATE
-- that moves `processed`, so a chunk counts once.
CREATE TABLE import_jobs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        text NOT NULL DEFAULT 'receiving'
                  CHECK (status IN ('receiving', 'queued', 'running', 'done', 'failed')),
    content_type  text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 128),
    file          text,                         -- the upload (NULL once done)
    format        text,
    total         integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    processed     integer NOT NULL DEFAULT 0 CHECK (processed >= 0),
    report        jsonb NOT NULL DEFAULT '{}'::jsonb,
    error         text,
    lease_until   timestamptz,                  -- a worker holds the job until then
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_jobs_user_idx ON import_jobs (user_id, created_at);
CREATE INDEX import_jobs_open_idx ON import_jobs (created_at) WHERE status IN ('queued', 'running');
