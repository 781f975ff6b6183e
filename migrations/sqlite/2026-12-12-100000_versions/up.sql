-- Published versions (issue #19). Each publication of a resource is a
-- version `major.minor`; its content is kept as it was published, so an old
-- version stays readable exactly. `snapshot` is the published content as
-- JSON (app::versions::Snapshot); NULL means "the resource as it is now",
-- which holds for the latest version of a resource published before
-- versions existed (filled in from the row when the next version is
-- published: the row cannot change in between).
CREATE TABLE resource_versions (
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    major INTEGER NOT NULL,
    minor INTEGER NOT NULL,
    -- the resource's revision counter (`version`) once this was published
    revision BIGINT NOT NULL,
    note TEXT,
    -- one line: what changed from the version before
    summary TEXT NOT NULL,
    snapshot TEXT,
    published_by TEXT,
    published_at TIMESTAMP NOT NULL,
    PRIMARY KEY (resource_id, major, minor)
);

-- The next version of a published resource, while its editors work on it:
-- the whole edited document (app::versions::Snapshot without files and
-- modules), created from the latest version by the first change.
CREATE TABLE resource_drafts (
    resource_id TEXT PRIMARY KEY NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    document TEXT NOT NULL,
    -- counts the draft's changes (its ETag changes with each)
    revision BIGINT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Every resource published (or archived) before now is version 1.0.
INSERT INTO resource_versions (resource_id, major, minor, revision, note, summary, snapshot, published_by, published_at)
SELECT id, 1, 0, version, NULL, 'First published version.', NULL, NULL, COALESCE(published_at, updated_at)
FROM resources
WHERE status <> 'draft';
