-- Universities, labs, NGOs, agencies, companies.
CREATE TABLE institutions (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- the name lowercased by the application (Unicode-aware on both backends), for search
    name_lower TEXT NOT NULL,
    -- ISO 3166-1 alpha-2
    country TEXT NOT NULL,
    -- university | research_lab | ngo | government | company | other
    kind TEXT NOT NULL,
    website TEXT,
    description TEXT NOT NULL,
    verified BOOLEAN NOT NULL,
    verified_at TIMESTAMP,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX institutions_created_idx ON institutions (created_at, id);

-- owner | editor | member
CREATE TABLE memberships (
    institution_id TEXT NOT NULL REFERENCES institutions (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (institution_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- Invitations by email; the token is stored as a SHA-256 hash.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    institution_id TEXT NOT NULL REFERENCES institutions (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    withdrawn_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX invitations_institution_idx ON invitations (institution_id, email_normalized);

-- Who did what to what, when: written in the same transaction as the change.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    -- JSON object
    detail TEXT NOT NULL,
    request_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_created_idx ON audit_events (created_at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, created_at);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id);
