-- Full-text search. The application folds each resource's texts into
-- words (lowercase, accents stripped, letters and digits only; see
-- domain::search) and writes them here in the transaction that changes the
-- resource. The tsvectors are built from those words as they are (no
-- parser, no dictionary, no locale), so PostgreSQL indexes exactly what
-- SQLite's FTS5 does.
CREATE TABLE resource_search (
    resource_id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    -- " word word … ", each field's words between single spaces
    title TEXT NOT NULL,
    tags TEXT NOT NULL,
    summary TEXT NOT NULL,
    -- description, the kind's own texts, module titles, institution name
    body TEXT NOT NULL,
    document tsvector GENERATED ALWAYS AS (
        array_to_tsvector(array_remove(string_to_array(title || tags || summary || body, ' '), ''))
    ) STORED,
    heading tsvector GENERATED ALWAYS AS (
        array_to_tsvector(array_remove(string_to_array(title || tags, ' '), ''))
    ) STORED
);
CREATE INDEX resource_search_document_idx ON resource_search USING GIN (document);
CREATE INDEX resource_search_heading_idx ON resource_search USING GIN (heading);

-- Every word ever indexed: where "did you mean" looks for corrections
-- (a correction is offered only when it finds something the reader may see).
CREATE TABLE search_words (
    word TEXT PRIMARY KEY
);

-- `sort=-updated_at`: the most recently changed first.
CREATE INDEX resources_updated_idx ON resources (status, updated_at, id);
