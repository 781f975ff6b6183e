-- The change feed (GET /api/v1/changes; app::changes, docs/FEED.md): a
-- projection of the domain events kept by app::changes::catch_up.
-- An audience is a space-framed list of keys (" pub m:<inst> e:<inst> "):
-- who may see a subject; a viewer's keys say which audiences they belong to.

-- Every subject the feed knows, with its audience now.
CREATE TABLE feed_subjects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    institution_id TEXT,
    audience TEXT NOT NULL,
    changed_seq BIGINT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX feed_subjects_institution_idx ON feed_subjects (institution_id);

-- Each change of a subject: its audience before and after, at the event seq
-- that caused it (the last event of a projected batch that touched it).
CREATE TABLE feed_log (
    event_seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (event_seq, kind, id)
);
CREATE INDEX feed_log_subject_idx ON feed_log (kind, id, event_seq);

-- The membership-derived keys of each person who has any, now.
CREATE TABLE feed_viewers (
    user_id TEXT PRIMARY KEY NOT NULL,
    keys TEXT NOT NULL
);

-- Each change of a person's keys.
CREATE TABLE feed_viewer_log (
    event_seq BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, event_seq)
);
CREATE INDEX feed_viewer_log_seq_idx ON feed_viewer_log (event_seq);

-- How far the projection has read the event log, and the oldest cursor
-- still served (raised when old changes are pruned). One row, id = 1.
CREATE TABLE feed_state (
    id INTEGER PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL,
    floor_seq BIGINT NOT NULL
);
