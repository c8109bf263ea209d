-- Canonical catalog model (architecture.md §3, seed-analysis.md §3).
-- Only the indexer writes these tables; catalog and search read them.

-- gen_random_uuid() is built into PostgreSQL 13+.

CREATE TABLE genres (
    id    smallint PRIMARY KEY,
    slug  text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z-]*$'),
    name  text NOT NULL UNIQUE
);

CREATE TABLE content (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type               text NOT NULL CHECK (type IN ('movie', 'tv')),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 1000),
    original_title     text,
    original_language  text CHECK (original_language ~ '^[a-z]{2,3}$'),
    overview           text,
    tagline            text,
    release_date       date,
    -- year is kept apart from release_date: some sources know only the year
    year               smallint CHECK (year BETWEEN 1870 AND 2100),
    runtime_min        integer CHECK (runtime_min >= 0),
    status             text,
    homepage           text,
    popularity         double precision NOT NULL DEFAULT 0 CHECK (popularity >= 0),
    vote_average       real CHECK (vote_average BETWEEN 0 AND 10),
    vote_count         integer NOT NULL DEFAULT 0 CHECK (vote_count >= 0),
    poster_path        text,
    backdrop_path      text,
    keywords           text[] NOT NULL DEFAULT '{}',
    production_countries text[] NOT NULL DEFAULT '{}',
    spoken_languages   text[] NOT NULL DEFAULT '{}',
    -- digest of the canonical record: an unchanged re-import writes nothing
    checksum           bytea NOT NULL,
    -- bumped on every change; search replicas resync from it
    version            bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX content_popularity_idx ON content (popularity DESC);
CREATE INDEX content_type_year_idx ON content (type, year);
CREATE INDEX content_rating_idx ON content (vote_average DESC) WHERE vote_count > 0;
CREATE INDEX content_release_idx ON content (release_date DESC NULLS LAST);
CREATE INDEX content_updated_idx ON content (updated_at);

CREATE TABLE content_genres (
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    genre_id    smallint NOT NULL REFERENCES genres (id),
    PRIMARY KEY (content_id, genre_id)
);
CREATE INDEX content_genres_genre_idx ON content_genres (genre_id, content_id);

-- One row per (source, value): the same IMDb id can never name two entities.
CREATE TABLE external_ids (
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    source      text NOT NULL CHECK (source IN ('eidr', 'imdb', 'tmdb', 'tvdb', 'watchmode',
                                                'streaming_availability', 'movielens', 'youtube')),
    value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 128),
    PRIMARY KEY (source, value)
);
CREATE INDEX external_ids_content_idx ON external_ids (content_id);

-- Alternative titles (other languages, a.k.a.) used by resolution and search.
CREATE TABLE content_titles (
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    title       text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('original', 'alternate', 'source')),
    source      text NOT NULL,
    PRIMARY KEY (content_id, title, source)
);

CREATE TABLE credits (
    content_id   uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('cast', 'crew')),
    ord          smallint NOT NULL,
    person_name  text NOT NULL,
    person_tmdb_id integer,
    character    text,
    job          text,
    department   text,
    PRIMARY KEY (content_id, role, ord)
);
CREATE INDEX credits_person_idx ON credits (lower(person_name));

CREATE TABLE videos (
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    site        text NOT NULL CHECK (site IN ('youtube', 'vimeo')),
    key         text NOT NULL,
    type        text NOT NULL DEFAULT 'trailer' CHECK (type IN ('trailer', 'teaser', 'clip', 'featurette', 'review')),
    name        text,
    official    boolean NOT NULL DEFAULT false,
    published_at timestamptz,
    PRIMARY KEY (content_id, site, key)
);

CREATE TABLE availability (
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    platform    text NOT NULL CHECK (platform ~ '^[a-z0-9][a-z0-9-]*$'),
    region      char(2) NOT NULL CHECK (region ~ '^[A-Z]{2}$'),          -- ISO 3166-1 alpha-2
    type        text NOT NULL CHECK (type IN ('subscription', 'rent', 'buy', 'free', 'ads')),
    quality     text NOT NULL DEFAULT 'hd' CHECK (quality IN ('sd', 'hd', 'uhd', 'hdr')),
    price       numeric(12, 2) CHECK (price >= 0),
    currency    char(3) CHECK (currency ~ '^[A-Z]{3}$'),                 -- ISO 4217
    deep_link   text,
    expires_at  timestamptz,
    source      text NOT NULL,
    -- availability from the fallback chain's last resort is served, marked stale
    stale       boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (content_id, platform, region, type),
    CHECK ((price IS NULL) = (currency IS NULL))
);
CREATE INDEX availability_region_platform_idx ON availability (region, platform);
CREATE INDEX availability_expiry_idx ON availability (expires_at) WHERE expires_at IS NOT NULL;

-- Trending: one row per content and day, from provider trending lists or views.
CREATE TABLE trending (
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    day         date NOT NULL,
    score       double precision NOT NULL CHECK (score >= 0),
    PRIMARY KEY (content_id, day)
);
CREATE INDEX trending_day_idx ON trending (day, score DESC);

-- Durable work queue: claimed with FOR UPDATE SKIP LOCKED, retried with
-- run_after backoff; a job is idempotent, so at-least-once is enough.
CREATE TABLE ingest_jobs (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    run_after   timestamptz NOT NULL DEFAULT now(),
    locked_by   text,
    locked_at   timestamptz,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX ingest_jobs_claim_idx ON ingest_jobs (run_after, id) WHERE state = 'queued';
CREATE INDEX ingest_jobs_running_idx ON ingest_jobs (locked_at) WHERE state = 'running';

-- Every resolution decision that merged a record into an entity.
CREATE TABLE entity_merges (
    id          bigserial PRIMARY KEY,
    content_id  uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
    tier        smallint NOT NULL CHECK (tier BETWEEN 1 AND 4),
    confidence  real NOT NULL CHECK (confidence > 0 AND confidence <= 1),
    source      text NOT NULL,
    source_id   text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entity_merges_content_idx ON entity_merges (content_id);

-- Change events, numbered per stream; subscribers that see a gap resync.
CREATE TABLE change_log (
    stream      text NOT NULL CHECK (stream IN ('content.changed', 'availability.changed')),
    seq         bigint NOT NULL,
    content_id  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('upsert', 'delete')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, seq)
);

-- Provider work that failed after its retries; replayed by command.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    provider    text NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    reason      text NOT NULL,
    attempts    integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
CREATE INDEX dead_letters_pending_idx ON dead_letters (created_at) WHERE replayed_at IS NULL;
