-- Popularity snapshots: the catalog's popularity of every title that has
-- one, taken together by the fetcher's scheduler (one taken_at per snapshot).
-- Trending's day and week windows rank by the change since the last snapshot
-- taken at or before the window's start. Rows older than the retention
-- (MG_POPULARITY_RETENTION_S, 8 days: a week's window and a day of slack)
-- are deleted by the job that takes the next snapshot.
CREATE TABLE popularity_snapshots (
    taken_at    timestamptz NOT NULL,
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    popularity  double precision NOT NULL CHECK (popularity >= 0),
    PRIMARY KEY (taken_at, content_id)
);
-- ON DELETE CASCADE from content looks rows up by title.
CREATE INDEX popularity_snapshots_content_idx ON popularity_snapshots (content_id);
