-- Webhook subscriptions (issue 18): owned by an institution (its owners
-- manage them) or by a partnership (its coordinators). Exactly one owner.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    institution_id TEXT REFERENCES institutions (id) ON DELETE CASCADE,
    partnership_id TEXT REFERENCES partnerships (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    -- JSON array of event type names (nothing queries it element-wise)
    event_types TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    -- why the platform disabled it (gone | failures), NULL otherwise
    disabled_reason TEXT,
    -- whsec_<base64>: needed in clear to sign
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((institution_id IS NULL) <> (partnership_id IS NULL))
);
CREATE INDEX webhook_subscriptions_institution_idx ON webhook_subscriptions (institution_id, created_at, id);
CREATE INDEX webhook_subscriptions_partnership_idx ON webhook_subscriptions (partnership_id, created_at, id);
CREATE INDEX webhook_subscriptions_enabled_idx ON webhook_subscriptions (enabled);

-- One message per (subscription, event), queued in the transaction of the
-- event and delivered by the worker under a lease (the email outbox's
-- discipline). `id` is the `webhook-id` every attempt carries.
CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    -- queued | sending | delivered | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- attempts made before the current round (a redelivery starts a new round)
    round_start INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_expires_at TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_messages_due_idx ON webhook_messages (status, next_attempt_at);
CREATE INDEX webhook_messages_lease_idx ON webhook_messages (status, lease_expires_at);
CREATE INDEX webhook_messages_subscription_idx ON webhook_messages (subscription_id, created_at, id);

-- One row per delivery attempt.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    worker TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    latency_ms BIGINT NOT NULL,
    -- HTTP status, NULL when none came back
    status_code INTEGER,
    -- delivered | retry | failed | refused
    outcome TEXT NOT NULL,
    error TEXT,
    -- the first 1 kB of the response body
    response_excerpt TEXT,
    retry_at TIMESTAMP
);
CREATE INDEX webhook_attempts_message_idx ON webhook_attempts (message_id, attempt);
