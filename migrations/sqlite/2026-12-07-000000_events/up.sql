-- Domain events: one row per thing that happened, written in the same
-- transaction as the change. `seq` is the order of commits (appends take a
-- lock held until commit: db::events::append), so a reader that follows
-- `seq` never misses an event committed late by a concurrent transaction.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    -- e.g. resource.published (docs/EVENTS.md)
    event_type TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    actor_id TEXT,
    -- JSON: the typed payload of event_type
    payload TEXT NOT NULL,
    request_id TEXT,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX events_subject_idx ON events (subject_kind, subject_id, seq);
CREATE INDEX events_occurred_idx ON events (occurred_at);

-- The institutions an event concerns (the owner of a resource, the members
-- of a partnership…): what feeds and webhooks per institution will follow.
CREATE TABLE event_institutions (
    event_seq BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    institution_id TEXT NOT NULL,
    PRIMARY KEY (event_seq, institution_id)
);
CREATE INDEX event_institutions_idx ON event_institutions (institution_id, event_seq);
