-- Deaccession, embargoes and retention (issue #19).

-- A withdrawn version, or a whole withdrawn resource (`version` = '*'; the
-- resource's status is then `deaccessioned`). Kept for the tombstone that
-- answers in its place.
CREATE TABLE resource_deaccessions (
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    -- '1.2', or '*' for the whole resource
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- what the tombstone shows, as it was when withdrawn
    title TEXT NOT NULL,
    citation TEXT NOT NULL,
    deaccessioned_by TEXT,
    deaccessioned_at TIMESTAMP NOT NULL,
    PRIMARY KEY (resource_id, version)
);

-- A file may carry its own embargo.
ALTER TABLE dataset_files ADD COLUMN embargo_until TIMESTAMP;
ALTER TABLE dataset_files ADD COLUMN embargo_reason TEXT;

-- What falls due at a moment (an embargo lifts, a retention period ends,
-- its reminders): written with the published dataset or file, done once
-- by the periodic job (a conditional claim of `done_at`).
CREATE TABLE resource_deadlines (
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    -- '' for the dataset itself
    file_id TEXT NOT NULL,
    -- embargo_lift | retention_reminder_30 | retention_reminder_7 | retention_end
    what TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    done_at TIMESTAMP,
    PRIMARY KEY (resource_id, file_id, what)
);
CREATE INDEX resource_deadlines_due ON resource_deadlines (due_at) WHERE done_at IS NULL;

-- People refused a file of a dataset under embargo: told when it lifts.
CREATE TABLE embargo_watchers (
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    -- '' for the dataset's own embargo
    file_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (resource_id, file_id, user_id)
);
