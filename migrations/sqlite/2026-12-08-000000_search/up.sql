-- Full-text search. The application folds each resource's texts into
-- words (lowercase, accents stripped, letters and digits only; see
-- domain::search) and writes them here in the transaction that changes the
-- resource; the triggers keep the FTS5 index in step with this table.
CREATE TABLE resource_search (
    -- the FTS5 row id (stable across VACUUM, unlike an implicit rowid)
    key INTEGER PRIMARY KEY,
    resource_id TEXT NOT NULL UNIQUE REFERENCES resources (id) ON DELETE CASCADE,
    -- " word word … ", each field's words between single spaces
    title TEXT NOT NULL,
    tags TEXT NOT NULL,
    summary TEXT NOT NULL,
    -- description, the kind's own texts, module titles, institution name
    body TEXT NOT NULL
);

CREATE VIRTUAL TABLE resource_fts USING fts5(
    title, tags, summary, body,
    content = 'resource_search', content_rowid = 'key',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER resource_search_insert AFTER INSERT ON resource_search BEGIN
    INSERT INTO resource_fts (rowid, title, tags, summary, body)
    VALUES (new.key, new.title, new.tags, new.summary, new.body);
END;

CREATE TRIGGER resource_search_delete AFTER DELETE ON resource_search BEGIN
    INSERT INTO resource_fts (resource_fts, rowid, title, tags, summary, body)
    VALUES ('delete', old.key, old.title, old.tags, old.summary, old.body);
END;

CREATE TRIGGER resource_search_update AFTER UPDATE ON resource_search BEGIN
    INSERT INTO resource_fts (resource_fts, rowid, title, tags, summary, body)
    VALUES ('delete', old.key, old.title, old.tags, old.summary, old.body);
    INSERT INTO resource_fts (rowid, title, tags, summary, body)
    VALUES (new.key, new.title, new.tags, new.summary, new.body);
END;

-- Every word ever indexed: where "did you mean" looks for corrections
-- (a correction is offered only when it finds something the reader may see).
CREATE TABLE search_words (
    word TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;

-- `sort=-updated_at`: the most recently changed first.
CREATE INDEX resources_updated_idx ON resources (status, updated_at, id);
