-- Cross-border lab partnerships between institutions.
CREATE TABLE partnerships (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    goals TEXT NOT NULL,
    agreement_url TEXT,
    starts_on DATE NOT NULL,
    ends_on DATE NOT NULL,
    -- proposed | active | concluded | dissolved
    status TEXT NOT NULL,
    -- a public page anyone may read, or one for its members only
    public BOOLEAN NOT NULL,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- when the last digest of newly shared resources went out
    last_digest_at TIMESTAMP
);
CREATE INDEX partnerships_created_idx ON partnerships (created_at, id);

-- invited | active | declined | left | removed
CREATE TABLE partnership_members (
    partnership_id TEXT NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
    institution_id TEXT NOT NULL REFERENCES institutions (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    invited_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (partnership_id, institution_id)
);
CREATE INDEX partnership_members_institution_idx ON partnership_members (institution_id, status);

CREATE TABLE partnership_coordinators (
    partnership_id TEXT NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (partnership_id, user_id)
);
CREATE INDEX partnership_coordinators_user_idx ON partnership_coordinators (user_id);

CREATE TABLE partnership_resources (
    partnership_id TEXT NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    shared_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    -- set once a digest email has announced it
    digested_at TIMESTAMP,
    PRIMARY KEY (partnership_id, resource_id)
);
CREATE INDEX partnership_resources_resource_idx ON partnership_resources (resource_id);
