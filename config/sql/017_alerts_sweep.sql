-- The leaving-soon sweep (alerts actor): when a replica last swept. A
-- replica claims an interval's sweep by moving swept_at in one statement,
-- so replicas sweep once per interval between them.
ALTER TABLE alerts_cursor ADD COLUMN swept_at timestamptz NOT NULL DEFAULT '-infinity';
