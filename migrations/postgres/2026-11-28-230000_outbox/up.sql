-- Emails are written here in the same transaction as the change that
-- causes them, and delivered by the worker.
CREATE TABLE outbox_emails (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    dedupe_key TEXT UNIQUE,
    recipient TEXT NOT NULL,
    user_id TEXT,
    template TEXT NOT NULL,
    data TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    -- queued | sending | sent | dead
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_expires_at TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_emails_due_idx ON outbox_emails (status, next_attempt_at);
CREATE INDEX outbox_emails_lease_idx ON outbox_emails (status, lease_expires_at);
CREATE INDEX outbox_emails_created_idx ON outbox_emails (created_at, id);

-- One row per delivery attempt, with its outcome and error.
CREATE TABLE outbox_attempts (
    email_id TEXT NOT NULL REFERENCES outbox_emails (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    worker TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    -- sent | transient | permanent
    outcome TEXT NOT NULL,
    error TEXT,
    retry_at TIMESTAMP,
    PRIMARY KEY (email_id, attempt)
);
