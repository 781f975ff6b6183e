-- Partner apps (web and mobile frontends) registered by admins: where their
-- emailed links may point, which browser origins may call the API, and
-- whether their sign-ins keep the refresh token in a cookie.
CREATE TABLE client_apps (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of link bases (https URLs; http only for localhost), the
    -- first being the default; never read element-wise by SQL
    link_bases TEXT NOT NULL,
    -- JSON array of CORS origins (scheme://host[:port])
    allowed_origins TEXT NOT NULL,
    cookie_sessions BOOLEAN NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX client_apps_created_idx ON client_apps (created_at, id);

-- The client app a sign-in was made for, and for cookie sessions the
-- SHA-256 of its CSRF token (double submit: kj_csrf cookie = X-CSRF-Token).
-- The session row itself is untouched; an app deleted later leaves the row,
-- whose cookie refreshes then fail the CSRF check.
CREATE TABLE client_sessions (
    session_id TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    csrf_hash TEXT,
    created_at TIMESTAMP NOT NULL
);
