-- Entity vectors (embedder actor): one unit vector per title for the model
-- that made it. `model` names the model and its version (an LSA model file's
-- dims and content hash, or the OpenAI model and dimensions), so a model
-- change finds every row stale and the embedder re-embeds the catalog.
-- `text_md5` is the md5 of the text that was embedded: a title whose text
-- changed is stale too. An empty vector means the text has no word the model
-- knows (nothing to embed; not retried until the text or model changes).
CREATE TABLE content_vectors (
    content_id  uuid PRIMARY KEY REFERENCES content (id) ON DELETE CASCADE,
    model       text NOT NULL,
    dims        integer NOT NULL CHECK (dims >= 0),
    vector      real[] NOT NULL CHECK (cardinality (vector) = dims),
    text_md5    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Stored vectors are announced on their own stream, numbered like the
-- others (the row lock taken to bump it is held to commit).
INSERT INTO change_streams (stream) VALUES ('vectors.changed');
