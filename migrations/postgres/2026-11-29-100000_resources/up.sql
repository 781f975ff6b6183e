-- Courses, datasets and model cards: one core row each. Fields only one
-- kind has live in `details` (a JSON object written and validated by the
-- application); the ones lists filter on are columns.
CREATE TABLE resources (
    id TEXT PRIMARY KEY NOT NULL,
    -- course | dataset | model_card
    kind TEXT NOT NULL,
    -- drafts go with their institution; published ones block its deletion
    institution_id TEXT NOT NULL REFERENCES institutions (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    -- the title lowercased by the application, for sorting
    title_lower TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    -- SPDX licence id
    license TEXT,
    -- JSON arrays of BCP 47 tags, ISO 3166-1 alpha-2 codes and free tags
    languages TEXT NOT NULL,
    countries TEXT NOT NULL,
    tags TEXT NOT NULL,
    -- lowercased title, summary and tags, for `q`
    search_text TEXT NOT NULL,
    -- public | registered | institution | partnership
    visibility TEXT NOT NULL,
    -- draft | published | archived
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- datasets: open | registered | restricted
    access_level TEXT,
    -- model cards: minimal | limited | high | unacceptable
    risk_tier TEXT,
    -- JSON object: the kind's own fields
    details TEXT NOT NULL,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    archived_at TIMESTAMP,
    -- published_at once published, created_at before: the `published_at` sort key
    listed_at TIMESTAMP NOT NULL
);
CREATE INDEX resources_listed_idx ON resources (status, listed_at, id);
CREATE INDEX resources_title_idx ON resources (status, title_lower, id);
CREATE INDEX resources_institution_idx ON resources (institution_id, status);

-- One row per language (full tag and primary subtag), country and tag of a
-- resource, lowercased: what the list filters match on.
CREATE TABLE resource_terms (
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    -- language | country | tag
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (facet, value, resource_id)
);
CREATE INDEX resource_terms_resource_idx ON resource_terms (resource_id);

-- Typed links between resources: the capacity-building graph.
CREATE TABLE resource_relations (
    source_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    -- trained_on | evaluated_on | uses_dataset | teaches_model | derived_from
    relation TEXT NOT NULL,
    target_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (source_id, relation, target_id)
);
CREATE INDEX resource_relations_target_idx ON resource_relations (target_id);

-- A dataset's files. The URL is handed out only as an access-checked link.
CREATE TABLE dataset_files (
    id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX dataset_files_dataset_idx ON dataset_files (dataset_id, created_at, id);
