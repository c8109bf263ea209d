-- Production companies of a title, as its metadata source lists them:
-- [{name, id (the source's company id), logo_path, origin_country}] in the
-- source's order. They are read with their title (details, the search
-- index's companies field) and never on their own, so they stay beside it
-- rather than in tables of their own; the indexer rebuilds the list with the
-- rest of the canonical row.
ALTER TABLE content ADD COLUMN production_companies jsonb NOT NULL DEFAULT '[]'::jsonb
    CHECK (jsonb_typeof (production_companies) = 'array');
