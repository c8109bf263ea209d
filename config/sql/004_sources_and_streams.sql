-- Every source's normalised record of an entity, kept whole: merging never
-- drops a provider's fields, and the canonical row is rebuilt from these.
CREATE TABLE content_sources (
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    source      text NOT NULL,
    source_id   text NOT NULL,
    record      jsonb NOT NULL,
    checksum    bytea NOT NULL,        -- of the record: unchanged -> no write, no event
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_id)
);
CREATE INDEX content_sources_content_idx ON content_sources (content_id);

-- Last sequence number per event stream. The row lock taken to bump it is
-- held to commit, so sequence order is commit order and there are no gaps.
CREATE TABLE change_streams (
    stream    text PRIMARY KEY,
    last_seq  bigint NOT NULL DEFAULT 0
);
INSERT INTO change_streams (stream) VALUES ('content.changed'), ('availability.changed');

-- Availability changes are announced apart from content changes.
ALTER TABLE content ADD COLUMN availability_checksum bytea;
