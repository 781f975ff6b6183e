-- Dataset access requests and the grants they become.
-- status: pending | approved | rejected | withdrawn | revoked | expired
CREATE TABLE access_requests (
    id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    requester_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the institution the request is made on behalf of, and its slug then
    -- (a claim on behalf of a deleted institution lapses, it never turns
    -- into a personal one)
    institution_id TEXT REFERENCES institutions (id) ON DELETE SET NULL,
    institution_slug TEXT,
    purpose TEXT NOT NULL,
    duration_days INTEGER NOT NULL,
    status TEXT NOT NULL,
    -- approved | rejected, kept whatever happens to the grant later
    decision TEXT,
    decision_note TEXT,
    revocation_note TEXT,
    decided_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    -- for the transparency report: where the data comes from and the
    -- country that counted for the transfer policy, as of the request
    origin_country TEXT,
    requester_country TEXT,
    -- the country that counted when it was approved (conditions change)
    decision_country TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    -- when the grant ends (approved requests)
    expires_at TIMESTAMP,
    -- when it stopped being pending or approved
    ended_at TIMESTAMP,
    -- the last reminder sent to the deciders
    reminded_at TIMESTAMP
);
-- one pending request per user and dataset, whatever the race
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests (dataset_id, requester_id)
    WHERE status = 'pending';
CREATE INDEX access_requests_dataset_idx ON access_requests (dataset_id, created_at, id);
CREATE INDEX access_requests_requester_idx ON access_requests (requester_id, created_at, id);
CREATE INDEX access_requests_status_idx ON access_requests (status, created_at);
CREATE INDEX access_requests_decided_idx ON access_requests (decided_at);

-- Every issued file link: who, which file, from which country to which.
CREATE TABLE file_links (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    dataset_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    -- kept (as NULL) when the file is deleted: the report still counts it
    file_id TEXT REFERENCES dataset_files (id) ON DELETE SET NULL,
    user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    -- the grant it was issued under, if any (re-checked when followed)
    access_request_id TEXT REFERENCES access_requests (id) ON DELETE CASCADE,
    origin_country TEXT,
    requester_country TEXT,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX file_links_issued_idx ON file_links (issued_at);
